// Agent routes: enroll (join token), claim (long-poll for leases and stop orders), heartbeat (renew, report, revoke).
import { createRoute } from "@hono/zod-openapi";
import {
  claimRequestSchema,
  claimResponseSchema,
  encryptionKeyRequestSchema,
  enrollRequestSchema,
  enrollResponseSchema,
  heartbeatRequestSchema,
  heartbeatResponseSchema,
} from "../../api/agent-protocol";
import type { App, ResolvedDeps } from "../context";
import { runInBackground } from "./background";
import type { Evaluator } from "../evaluation";
import { claim, ClaimGate } from "../leases/claim";
import { enroll } from "../leases/enroll";
import { heartbeat, HeartbeatWriter } from "../leases/heartbeat";
import { LeaseTokens } from "../leases/lease-token";
import { WorkWatch } from "../leases/work-watch";
import type { FleetTiming } from "../leases/timing";
import { errorResponses, json } from "./schemas";
import { discoveryReply } from "../services/heartbeat-view";
import { recordAdvertise, renewMesh } from "../mesh/renew";
import { z } from "@hono/zod-openapi";
import { nodeKeyId } from "../../api/sealed";
import { writeBatch } from "../../db/batch";
import { auditRow, CHANGED } from "../audit";
import { unauthorized } from "../errors";
import { countedClaim, countedHeartbeat } from "../metrics";

const nodeBearer = [{ nodeCredential: [] }];

/** How often one instance looks for expired leases and silent nodes while serving heartbeats. */
const OVERDUE_PROBE_MS = 1_000;
/** Claims one instance works on at once (see ClaimGate). */
const CLAIMS_AT_ONCE = 16;
/**
 * How often this instance reads the store for work other instances gave the nodes whose claims wait here:
 * one read for all of them (see WorkWatch), and the most a cross-instance placement or stop waits for it.
 */
const WORK_WATCH_MS = 150;

export function registerAgentRoutes(app: App, deps: ResolvedDeps, timing: FleetTiming, evaluator: Evaluator): void {
  const tokens = new LeaseTokens(deps.keys, deps.clock);
  const claims = new ClaimGate(CLAIMS_AT_ONCE);
  const waits = { signal: deps.signal, watch: new WorkWatch(deps.store.client, WORK_WATCH_MS, deps.log) };
  const writer = new HeartbeatWriter(deps, timing);
  let lastProbe = 0;

  app.openAPIRegistry.registerComponent("securitySchemes", "nodeCredential", { type: "http", scheme: "bearer", bearerFormat: "JWT" });

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/agent/enroll",
      summary: "Enroll a node with a join token; returns its credential and the control plane's public keys",
      request: { body: { required: true, content: { "application/json": { schema: enrollRequestSchema } } } },
      responses: { 200: json(enrollResponseSchema, "Enrolled"), ...errorResponses },
    }),
    async (c) => c.json(await enroll(deps, timing, c.req.valid("json")), 200),
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/agent/encryption-key",
      summary: "Register the node's X25519 public key (an agent enrolled before it had one); task secrets are sealed to it",
      security: nodeBearer,
      request: { body: { required: true, content: { "application/json": { schema: encryptionKeyRequestSchema } } } },
      responses: { 200: json(z.object({ kid: z.string().describe("The key's JWK thumbprint") }), "Registered"), ...errorResponses },
    }),
    async (c) => {
      const { key } = c.req.valid("json");
      const node = c.get("node");
      const now = deps.clock.now();
      const [updated] = await writeBatch(deps.store.client, [
        {
          sql: "UPDATE nodes SET encryption_key = ?, updated_at = ? WHERE id = ? AND credential_generation = ?",
          args: [JSON.stringify(key), now, node.nodeId, node.generation],
        },
        auditRow(now, { actor: `node:${node.nodeId}`, action: "node.encryption-key", target: node.nodeId, detail: { kid: await nodeKeyId(key) } }, CHANGED),
      ]);
      if (updated?.rowsAffected !== 1) throw unauthorized("node credential is no longer valid: enroll again");
      return c.json({ kid: await nodeKeyId(key) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/agent/claim",
      summary: "Claim the node's placed tasks as leases (long-polls up to waitMs for new work)",
      security: nodeBearer,
      request: { body: { required: false, content: { "application/json": { schema: claimRequestSchema } } } },
      responses: { 200: json(claimResponseSchema, "The node's leases"), ...errorResponses },
    }),
    async (c) => {
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : { waitMs: 0 };
      return c.json(await countedClaim(deps.metrics, claim(deps, timing, tokens, claims, waits, c.get("node"), body, c.req.raw.signal)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/agent/heartbeat",
      summary: "Renew all of the node's leases and report task state, health and exit codes",
      security: nodeBearer,
      request: { body: { required: true, content: { "application/json": { schema: heartbeatRequestSchema } } } },
      responses: { 200: json(heartbeatResponseSchema, "Renewals and revocations"), ...errorResponses },
    }),
    async (c) => {
      const now = deps.clock.now();
      const probe = now - lastProbe >= OVERDUE_PROBE_MS || now < lastProbe;
      if (probe) lastProbe = now;
      const body = c.req.valid("json");
      const outcome = await countedHeartbeat(deps.metrics, heartbeat(deps, timing, tokens, writer, c.get("node"), body.tasks, probe));
      if (outcome.evaluationsRequested) runInBackground(c, deps, () => evaluator.kick());
      if (outcome.overdue) runInBackground(c, deps, () => evaluator.sweep());
      // Discovery only for a node that asks: a heartbeat without it costs nothing more than before.
      const discovery = body.services !== undefined || body.ingress !== undefined ? await discoveryReply(deps, c.get("node").nodeId, body) : {};
      // Issued for the key the node presents: its credential is what vouches for it, as for its leases.
      if (body.advertise) await recordAdvertise(deps, c.get("node").nodeId, body.advertise);
      const mesh = body.mesh ? { mesh: await renewMesh(deps, c.get("node").nodeId, body.mesh) } : {};
      return c.json({ ...outcome.response, ...discovery, ...mesh }, 200);
    },
  );
}
