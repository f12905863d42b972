// An agent against a control plane from before discovery, which refuses fields it does not know (as zod's
// strict bodies do, with the problem detail naming them): it enrolls without advertised addresses and
// heartbeats without services and ingress, says each once, and runs on.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAgent } from "../../agent/run";
import { generateSigningKey, jwks } from "../../worker/auth/keys";
import { startStandIn } from "../support/stand-in";
import { cleanupNode, eventually, requireDocker, uniqueNode } from "../support/docker";

const TIMING = { heartbeatIntervalMs: 100, leaseTtlMs: 3_000 };
const NEW_FIELDS = ["advertise", "services", "ingress", "mesh"];
let signingJwks: { keys: JWK[] };
const cleanup: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  await requireDocker();
  signingJwks = jwks((await generateSigningKey()).keys);
});
afterAll(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function olderControlPlane() {
  const accepted: { path: string; body: Record<string, unknown> }[] = [];
  let refused = 0;
  const nodeId = randomUUID();
  const url = await startStandIn(cleanup, (req, res, given, reply) => {
    const body = given ?? {};
    const unknown = Object.keys(body).filter((k) => NEW_FIELDS.includes(k));
    if (unknown.length > 0) {
      refused++;
      return reply(400, { status: 400, detail: unknown.map((k) => `${k}: unknown field "${k}"`).join("; ") });
    }
    accepted.push({ path: req.url ?? "", body });
    switch (`${req.method} ${req.url}`) {
      case "POST /v1/agent/enroll":
        return reply(200, { nodeId, credential: "cred", jwks: signingJwks, clusterId: "older", region: "global", ...TIMING });
      case "POST /v1/agent/heartbeat":
        return reply(200, { renewed: [], revoked: [], work: false, logRequests: [], ...TIMING });
      case "POST /v1/agent/claim": {
        const timer = setTimeout(() => reply(200, { leases: [], ...TIMING }), 200);
        res.on("close", () => clearTimeout(timer));
        return;
      }
      default:
        return reply(404, { detail: "no such route" });
    }
  });
  return { url: url, accepted, refused: () => refused };
}

describe("an agent against a control plane from before discovery", () => {
  it("enrolls without advertised addresses or a mesh, and heartbeats without services, ingress or a mesh, saying each once", async () => {
    const cp = await olderControlPlane();
    const name = uniqueNode("older");
    const dir = mkdtempSync(join(tmpdir(), "leasehold-older-cp-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const warnings: string[] = [];
    const agent = await runAgent({
      server: cp.url,
      joinToken: "lhj_standin.token",
      name,
      labels: {},
      dataDir: dir,
      advertise: [{ address: "192.0.2.7", scope: "public" }],
      log: (message, fields) => void (fields?.["level"] === "warn" && warnings.push(message)),
    });
    cleanup.push(async () => {
      await agent.stop();
      await cleanupNode(name);
    });
    await eventually(() => (cp.accepted.filter((r) => r.path === "/v1/agent/heartbeat").length >= 3 ? true : undefined), 10_000, "heartbeats to be taken");
    expect(cp.refused()).toBe(2);
    expect(warnings).toEqual([
      "the control plane takes no advertised addresses (an older version): enrolling without them",
      "the control plane issues no mesh certificates (an older version): enrolling without a mesh, so other nodes' endpoints are out of reach from here",
      "the control plane takes no service discovery in heartbeats (an older version): upstreams and ingress serve nothing here",
    ]);
  });
});
