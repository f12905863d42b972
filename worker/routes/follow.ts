// Log follows through NAT: GET …/logs/follow writes a follow row per task and streams, as server-sent
// events, the chunks the tasks' agents store for it (see worker/agent-requests/follow-stream.ts). The
// agents learn of the follow from a heartbeat reply or their request poll; the control plane never dials one.
import { createRoute, z } from "@hono/zod-openapi";
import type { SSEStreamingApi } from "hono/streaming";
import { streamSSE } from "hono/streaming";
import { followMessageSchema, MAX_TAIL_LINES } from "../../api/agent-requests";
import { writeBatch } from "../../db/batch";
import { dropOldRequests } from "../../db/queries/agent-requests";
import { agentRequests } from "../../db/schema";
import { FOLLOW_TIMING, runFollowStream, type FollowSink } from "../agent-requests/follow-stream";
import { isOn, logSelection, parseSince } from "../agent-requests/selection";
import { followTargets } from "../agent-requests/targets";
import { auditRow } from "../audit";
import { requireRole } from "../auth/middleware";
import type { App, ResolvedDeps } from "../context";
import { jobIdOf } from "../jobs/apply";
import type { FleetTiming } from "../leases/timing";
import { bearer, errorResponses, jobParams } from "./schemas";

/** Requests and chunks are kept this long past their end (an exec's answer stays readable meanwhile). */
export const REQUEST_RETENTION_MS = 3_600_000;
export const CHUNK_RETENTION_MS = 10 * 60_000;

const flag = z.enum(["0", "1", "true", "false"]).optional();

const followQuery = z.object({
  task: z.string().min(1).max(128).optional().describe("Only this task (an id or its prefix); default: every task of the job on a node"),
  tail: z.coerce.number().int().min(0).max(MAX_TAIL_LINES).optional().describe("Lines from before now to start with (default 100; all of the since window when since is given); 0: new lines only"),
  since: z.string().max(32).optional().describe("Only lines from this far back: a duration (90s, 5m) or milliseconds"),
  timestamps: flag.describe("1: each line starts with the engine's RFC 3339 timestamp"),
  stderr: flag.describe("1: stderr only (default: stdout and stderr, interleaved as written)"),
});

export function registerFollowRoutes(app: App, deps: ResolvedDeps, timing: FleetTiming): void {
  const { store, clock } = deps;
  const { db } = store;
  // Each SSE message's data: built from the contract's schema with this module's z, which documents it.
  const [output, status] = followMessageSchema.options;
  app.openAPIRegistry.register("FollowMessage", z.discriminatedUnion("type", [z.object(output.shape), z.object(status.shape)]));

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{namespace}/jobs/{name}/logs/follow",
      summary: "Follow a job's task logs as server-sent events, through the agents' outbound connections",
      description:
        "Each SSE message's data is a FollowMessage (JSON): output (one or more complete lines of one stream) or status (waiting for the agent, agent not connected, task stopped, …). " +
        "Comment lines (`: keepalive`) come when nothing else has for 15 s. The stream ends when the client closes it. An agent picks a new follow up with its next heartbeat " +
        "(at most one heartbeat interval, 5 s by default) and then delivers new lines within about a second.",
      security: bearer,
      request: { params: jobParams, query: followQuery },
      responses: {
        200: { description: "The follow's events", content: { "text/event-stream": { schema: z.string().describe("SSE messages whose data is a FollowMessage") } } },
        ...errorResponses,
      },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      requireRole(c, namespace, "viewer");
      const q = c.req.valid("query");
      const selection = logSelection({ tail: q.tail, sinceMs: parseSince(q.since, "query.since"), timestamps: isOn(q.timestamps), stream: isOn(q.stderr) ? "stderr" : undefined });
      const jobId = jobIdOf(namespace, name);
      const followers = (await followTargets(db, jobId, q.task)).map((t) => ({ ...t, id: deps.newId() }));
      const now = clock.now();
      await writeBatch(store.client, [
        ...followers.map((f) =>
          db.insert(agentRequests).values({ id: f.id, kind: "follow", namespace, jobId, taskId: f.taskId, nodeId: f.nodeId, status: "pending", spec: selection, expiresAt: now + FOLLOW_TIMING.ttlMs, createdAt: now, updatedAt: now }),
        ),
        auditRow(now, { actor: c.get("operator").subject, action: "logs.follow", namespace, target: jobId, detail: { tasks: followers.length, ...selection } }),
        ...dropOldRequests(now - REQUEST_RETENTION_MS, now - CHUNK_RETENTION_MS),
      ]);
      const { leaseTtlMs } = await timing.current();
      return streamSSE(c, (stream) => {
        const run = runFollowStream(deps, sseSink(stream), followers, { leaseTtlMs });
        // On Workers, so the closing write still runs once the client has gone; Node has no execution context.
        try {
          c.executionCtx.waitUntil(run);
        } catch {
          // Node: the loop runs on by itself.
        }
        return run;
      });
    },
  );
}

/** The stream as the follow loop writes it; a client that goes away ends any pause at once. */
function sseSink(stream: SSEStreamingApi): FollowSink {
  let wake: (() => void) | null = null;
  stream.onAbort(() => wake?.());
  return {
    get closed() {
      return stream.aborted || stream.closed;
    },
    send: (message) => stream.writeSSE({ data: JSON.stringify(message) }),
    comment: async (text) => void (await stream.write(`: ${text}\n\n`)),
    pause: (ms) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wake = null;
          resolve();
        }
        wake = done;
      }),
  };
}
