// Agent routes for follows and execs: the request poll (an agent with a follow open polls it about every
// second, so new follows and execs reach it sooner than its next heartbeat, and it learns which follows
// closed), a follow's chunks, and an exec's answer. Every write is conditional on the node, the request's
// state and expiry, and the node's current credential (see db/queries/agent-requests.ts).
import { createRoute, z } from "@hono/zod-openapi";
import { execResultSchema, followChunkSchema, requestPollResponseSchema } from "../../api/agent-requests";
import { readBatch, writeBatch } from "../../db/batch";
import { chunkWrite, execAnswer, NODE_CURRENT, OPEN_FOLLOWS, orderRows, refusalRead } from "../../db/queries/agent-requests";
import type { NodePrincipal } from "../auth/tokens";
import { followOrder, ordersOf, pickUpRequests } from "../agent-requests/orders";
import type { ChunkBody } from "../agent-requests/follow-stream";
import type { App, ResolvedDeps } from "../context";
import { conflict, forbidden, gone, notFound, ProblemError, unauthorized } from "../errors";
import { errorResponses, idParam, json, problemContent } from "./schemas";

const nodeBearer = [{ nodeCredential: [] }];
const refusals = { ...errorResponses, 410: { description: "The follow or exec is over: stop", content: problemContent } } as const;

export function registerAgentRequestRoutes(app: App, deps: ResolvedDeps): void {
  const { store, clock } = deps;

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/agent/requests",
      summary: "Hand the node its pending follows and execs, and list its open follows (polled while a follow is open)",
      security: nodeBearer,
      responses: { 200: json(requestPollResponseSchema, "The node's open follows and new execs"), ...errorResponses },
    }),
    async (c) => {
      const node = c.get("node");
      const now = clock.now();
      const args = { now, node: node.nodeId, gen: node.generation, nodes: JSON.stringify([{ node: node.nodeId, gen: node.generation }]) };
      const [current, picked, open] = await writeBatch(store.client, [
        { sql: NODE_CURRENT, args },
        pickUpRequests(args),
        { sql: OPEN_FOLLOWS, args },
      ]);
      if ((current?.rows.length ?? 0) === 0) throw unauthorized("node credential is no longer valid: enroll again");
      return c.json({ follows: orderRows(open).map(followOrder), execs: ordersOf(picked, node.nodeId).execs }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/agent/follows/{id}/chunks",
      summary: "A follow's next chunk of lines, at its next sequence number",
      security: nodeBearer,
      request: { params: idParam, body: { required: true, content: { "application/json": { schema: followChunkSchema } } } },
      responses: { 200: json(z.object({ ok: z.boolean() }), "Stored"), ...refusals },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const chunk = c.req.valid("json");
      const node = c.get("node");
      const body: ChunkBody = { output: chunk.output, ...(chunk.status ? { status: chunk.status } : {}) };
      const [taken] = await writeBatch(store.client, chunkWrite({ id, node: node.nodeId, gen: node.generation, seq: chunk.seq, ended: chunk.ended, body: JSON.stringify(body), now: clock.now() }));
      if (taken?.rowsAffected !== 1) throw await refusal(deps, id, node, "follow", chunk.seq);
      return c.json({ ok: true }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/agent/execs/{id}/result",
      summary: "An exec's answer: exit code and output",
      security: nodeBearer,
      request: { params: idParam, body: { required: true, content: { "application/json": { schema: execResultSchema } } } },
      responses: { 200: json(z.object({ ok: z.boolean() }), "Stored"), ...refusals },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const r = c.req.valid("json");
      const node = c.get("node");
      const result = JSON.stringify({ exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, truncated: r.truncated, timedOut: r.timedOut });
      const failed = r.error !== undefined;
      const [taken] = await writeBatch(store.client, [
        execAnswer({ id, node: node.nodeId, gen: node.generation, status: failed ? "failed" : "done", result, message: r.error ?? null, now: clock.now() }),
      ]);
      if (taken?.rowsAffected !== 1) throw await refusal(deps, id, node, "exec");
      return c.json({ ok: true }, 200);
    },
  );
}

/** Why a node's write was refused, read after the fact (the rare path). */
async function refusal(deps: ResolvedDeps, id: string, node: NodePrincipal, kind: "follow" | "exec", seq?: number): Promise<ProblemError> {
  const [rowRead, current] = await readBatch(deps.store.client, refusalRead({ id, node: node.nodeId, gen: node.generation }));
  if ((current?.rows.length ?? 0) === 0) return unauthorized("node credential is no longer valid: enroll again");
  const row = rowRead?.rows[0];
  if (!row || row["kind"] !== kind) return notFound(`no ${kind} ${id}`);
  if (row["node_id"] !== node.nodeId) return forbidden(`this ${kind} is for another node`);
  const status = String(row["status"]);
  if (status === "pending") return conflict(`this ${kind} has not been handed to this node yet`);
  const over = kind === "follow" ? "stop following" : "its answer is no longer taken";
  if (status !== "sent") return gone(`the ${kind} ${status === "failed" ? "has failed" : status === "closed" ? "is closed" : "is over"}: ${over}`);
  if (Number(row["expires_at"]) < deps.clock.now()) return gone(`the ${kind} lapsed: ${over}`);
  if (kind === "follow" && seq !== undefined) return conflict(`chunk ${seq} is out of sequence: the follow takes chunk ${Number(row["next_seq"])} next`);
  return conflict(`the ${kind} changed while this was written: try again`);
}
