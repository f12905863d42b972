// The node's encryption key, through runAgent against a stand-in control plane that records each request:
// it is made once, kept owner-only in its own file, sent at enrollment and again, unchanged, when the agent
// enrolls again; an agent enrolled before node keys registers one before its first claim, and an older
// control plane without the route is said once and does not stop the agent.
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JWK } from "jose";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { runAgent, type RunningAgent } from "../../agent/run";
import { NODE_KEY_FILE } from "../../agent/node-key";
import { generateSigningKey, jwks } from "../../worker/auth/keys";
import { startStandIn } from "../support/stand-in";
import { cleanupNode, eventually, requireDocker, uniqueNode } from "../support/docker";

type Request = { method: string; path: string; authorization: string | undefined; body: Record<string, unknown> | undefined };

const TIMING = { heartbeatIntervalMs: 100, leaseTtlMs: 3_000 };
let signingJwks: { keys: JWK[] };
const cleanup: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  await requireDocker();
  signingJwks = jwks((await generateSigningKey()).keys);
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A control plane that answers enroll, claim (held briefly, as a long-poll), heartbeat and the key route. */
async function standIn(opts: { keyRoute: boolean }) {
  const requests: Request[] = [];
  const nodeId = randomUUID();
  let refuseHeartbeats = 0;
  let enrolls = 0;
  const url = await startStandIn(cleanup, (req, res, body, reply) => {
    requests.push({ method: req.method ?? "", path: req.url ?? "", authorization: req.headers.authorization, body });
    switch (`${req.method} ${req.url}`) {
      case "POST /v1/agent/enroll":
        enrolls++;
        return reply(200, { nodeId, credential: `cred-${enrolls}`, jwks: signingJwks, clusterId: "stand-in", region: "global", ...TIMING });
      case "POST /v1/agent/heartbeat":
        if (refuseHeartbeats > 0) {
          refuseHeartbeats--;
          return reply(401, { detail: "node credential is no longer valid: enroll again" });
        }
        return reply(200, { renewed: [], revoked: [], work: false, logRequests: [], ...TIMING });
      case "POST /v1/agent/claim": {
        const timer = setTimeout(() => reply(200, { leases: [], ...TIMING }), 200);
        res.on("close", () => clearTimeout(timer));
        return;
      }
      case "PUT /v1/agent/encryption-key":
        if (!opts.keyRoute) return reply(404, { detail: "no such route" });
        return reply(200, { kid: (body?.["key"] as { kid?: string } | undefined)?.kid });
      default:
        return reply(404, { detail: "no such route" });
    }
  });
  return {
    url: url,
    nodeId,
    requests,
    to: (method: string, path: string) => requests.filter((r) => r.method === method && r.path === path),
    refuseNextHeartbeat: () => void (refuseHeartbeats = 1),
  };
}

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-node-key-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function start(server: string, dir: string, name: string, lines: { message: string; level: unknown }[] = []): Promise<RunningAgent> {
  const agent = await runAgent({ server, joinToken: "lhj_standin.token", name, labels: {}, dataDir: dir, log: (message, fields) => lines.push({ message, level: fields?.["level"] }) });
  cleanup.push(async () => {
    await agent.stop();
    await cleanupNode(name);
  });
  return agent;
}

const keyFile = (dir: string) => join(dir, NODE_KEY_FILE);
const storedKey = (dir: string) => JSON.parse(readFileSync(keyFile(dir), "utf8")) as JWK;
const modeOf = (path: string) => statSync(path).mode & 0o777;
const publicOf = (jwk: JWK) => ({ kty: "OKP", crv: "X25519", x: jwk.x, kid: jwk.kid, use: "enc", alg: "ECDH-ES" });

/** agent.json as an agent from before node keys left it: no key file, no encryptionKeyId. */
function legacyIdentity(dir: string, server: string, name: string, nodeId: string): void {
  writeFileSync(join(dir, "agent.json"), JSON.stringify({ server, name, nodeId, credential: "cred-old", jwks: signingJwks, clusterId: "stand-in" }), { mode: 0o600 });
}

describe("the node's encryption key", () => {
  it("is made at enrollment into its own 0600 file, sent with it, and kept (and sent again) when the agent enrolls again", async () => {
    const cp = await standIn({ keyRoute: true });
    const dir = dataDir();
    const name = uniqueNode("key");
    await start(cp.url, dir, name);
    expect(modeOf(keyFile(dir))).toBe(0o600);
    const key = storedKey(dir);
    expect(typeof key.d).toBe("string");
    const [enroll] = cp.to("POST", "/v1/agent/enroll");
    expect(enroll?.body?.["encryptionKey"]).toEqual(publicOf(key));

    // The credential is refused: the agent enrolls again, showing the old credential and the same key.
    cp.refuseNextHeartbeat();
    await eventually(() => (cp.to("POST", "/v1/agent/enroll").length === 2 ? true : undefined), 10_000, "the agent to enroll again");
    const again = cp.to("POST", "/v1/agent/enroll")[1]!;
    expect(again.body).toMatchObject({ previousCredential: "cred-1", encryptionKey: publicOf(key) });
    expect(storedKey(dir)).toEqual(key);
    expect(modeOf(keyFile(dir))).toBe(0o600);
    expect(JSON.parse(readFileSync(join(dir, "agent.json"), "utf8"))).toMatchObject({ credential: "cred-2", encryptionKeyId: key.kid });
    // Sent at enrollment: there is nothing to register.
    await eventually(() => (cp.to("POST", "/v1/agent/claim").length >= 1 ? true : undefined), 10_000, "a claim");
    expect(cp.to("PUT", "/v1/agent/encryption-key")).toEqual([]);
  });

  it("of an agent enrolled before node keys is made at start and registered before its first claim", async () => {
    const cp = await standIn({ keyRoute: true });
    const dir = dataDir();
    const name = uniqueNode("key");
    legacyIdentity(dir, cp.url, name, cp.nodeId);
    await start(cp.url, dir, name);
    await eventually(() => (cp.to("POST", "/v1/agent/claim").length >= 1 ? true : undefined), 10_000, "a claim");
    const key = storedKey(dir);
    expect(modeOf(keyFile(dir))).toBe(0o600);
    const firstKeyOrClaim = cp.requests.find((r) => r.path === "/v1/agent/encryption-key" || r.path === "/v1/agent/claim");
    expect(firstKeyOrClaim).toEqual({ method: "PUT", path: "/v1/agent/encryption-key", authorization: "Bearer cred-old", body: { key: publicOf(key) } });
    expect(cp.to("POST", "/v1/agent/enroll")).toEqual([]);
    expect(JSON.parse(readFileSync(join(dir, "agent.json"), "utf8"))).toMatchObject({ credential: "cred-old", encryptionKeyId: key.kid });
  });

  it("is not fatal when an older control plane has no route for it: said once, and the agent claims on", async () => {
    const cp = await standIn({ keyRoute: false });
    const dir = dataDir();
    const name = uniqueNode("key");
    legacyIdentity(dir, cp.url, name, cp.nodeId);
    const lines: { message: string; level: unknown }[] = [];
    await start(cp.url, dir, name, lines);
    await eventually(() => (cp.to("POST", "/v1/agent/claim").length >= 3 ? true : undefined), 10_000, "claims");
    expect(cp.to("PUT", "/v1/agent/encryption-key")).toHaveLength(1);
    expect(lines.filter((l) => l.level === "warn" || l.level === "error")).toEqual([
      { message: "the control plane takes no node encryption keys (an older version): tasks with secrets cannot run here", level: "warn" },
    ]);
  });
});
