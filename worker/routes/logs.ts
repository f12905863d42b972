// Logs through NAT: an operator's request is queued in the store, the agent picks it up with its next
// heartbeat, and uploads the tail; the operator polls for it. The control plane never dials an agent.
import { createRoute, z } from "@hono/zod-openapi";
import { and, eq, inArray } from "drizzle-orm";
import { writeBatch } from "../../db/batch";
import { logRequests, tasks } from "../../db/schema";
import { auditRow } from "../audit";
import { requireRole } from "../auth/middleware";
import type { App, ResolvedDeps } from "../context";
import { forbidden, notFound } from "../errors";
import { jobIdOf } from "../jobs/apply";
import { bearer, errorResponses, idParam, json, jobParams } from "./schemas";
import { logStreamSchema, MAX_TAIL_LINES } from "../../api/agent-requests";
import { logSelection } from "../agent-requests/selection";

const logRequestSchema = z
  .object({ id: z.string(), taskId: z.string(), nodeId: z.string(), status: z.enum(["pending", "sent", "done", "failed"]), output: z.string().nullable(), createdAt: z.number() })
  .openapi("LogRequest");

const tailRequestSchema = z.strictObject({
  taskId: z.string().optional(),
  tail: z.int().min(1).max(MAX_TAIL_LINES).optional().describe("Lines per task (default 100; with since, every line of its window up to 10,000)"),
  since: z.int().min(1).max(30 * 24 * 3_600_000).optional().describe("Only lines written within this many milliseconds before now"),
  timestamps: z.boolean().optional().describe("Prefix each line with the engine's RFC 3339 timestamp"),
  stream: logStreamSchema.optional().describe("Only this stream (default: stdout and stderr, interleaved as written)"),
});

/** Largest tail an agent may upload. */
export const MAX_LOG_BYTES = 512 * 1024;

export function registerLogRoutes(app: App, deps: ResolvedDeps): void {
  const { store, clock } = deps;
  const { db } = store;

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{namespace}/jobs/{name}/logs",
      summary: "Ask the agents running a job's tasks for their log tails",
      security: bearer,
      request: {
        params: jobParams,
        body: { required: false, content: { "application/json": { schema: tailRequestSchema } } },
      },
      responses: { 202: json(z.object({ requests: z.array(logRequestSchema) }), "Queued; poll each request"), ...errorResponses },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      requireRole(c, namespace, "viewer");
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : {};
      const selection = logSelection({ tail: body.tail, sinceMs: body.since, timestamps: body.timestamps, stream: body.stream });
      const jobId = jobIdOf(namespace, name);
      const live = await db
        .select({ id: tasks.id, nodeId: tasks.nodeId })
        .from(tasks)
        .where(and(eq(tasks.jobId, jobId), inArray(tasks.state, ["leased", "running", "complete", "failed"])));
      const chosen = live.filter((t) => t.nodeId !== null && (body.taskId === undefined || t.id === body.taskId || t.id.startsWith(body.taskId)));
      if (chosen.length === 0) throw notFound(body.taskId ? `job ${jobId} has no task ${body.taskId} on a node` : `job ${jobId} has no tasks on a node`);
      const now = clock.now();
      const rows = chosen.map((t) => ({
        id: deps.newId(),
        taskId: t.id,
        nodeId: t.nodeId as string,
        tail: selection.tail,
        sinceMs: selection.sinceMs ?? null,
        timestamps: selection.timestamps ?? false,
        stream: selection.stream ?? null,
        status: "pending" as const,
        output: null,
        createdAt: now,
        updatedAt: now,
      }));
      await writeBatch(store.client, [
        ...rows.map((r) => db.insert(logRequests).values(r)),
        auditRow(now, { actor: c.get("operator").subject, action: "logs.request", namespace, target: jobId, detail: { tasks: rows.length, ...selection } }),
      ]);
      return c.json({ requests: rows.map(({ id, taskId, nodeId, status, output, createdAt }) => ({ id, taskId, nodeId, status, output, createdAt })) }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/log-requests/{id}",
      summary: "A log request's status and, once the agent has answered, the log tail",
      security: bearer,
      request: { params: idParam },
      responses: { 200: json(logRequestSchema, "The request"), ...errorResponses },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const [row] = await db
        .select({ r: logRequests, namespace: tasks.namespace })
        .from(logRequests)
        .innerJoin(tasks, eq(tasks.id, logRequests.taskId))
        .where(eq(logRequests.id, id))
        .limit(1);
      if (!row) throw notFound(`no log request ${id}`);
      requireRole(c, row.namespace, "viewer");
      const { id: requestId, taskId, nodeId, status, output, createdAt } = row.r;
      return c.json({ id: requestId, taskId, nodeId, status, output, createdAt }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/agent/logs/{id}",
      summary: "An agent uploads the log tail it was asked for",
      security: [{ nodeCredential: [] }],
      request: {
        params: idParam,
        body: { required: true, content: { "application/json": { schema: z.strictObject({ output: z.string().max(MAX_LOG_BYTES), error: z.string().max(1024).optional() }) } } },
      },
      responses: { 200: json(z.object({ ok: z.boolean() }), "Stored"), ...errorResponses },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const node = c.get("node");
      const now = clock.now();
      const [result] = await writeBatch(store.client, [
        db
          .update(logRequests)
          .set({ status: body.error ? "failed" : "done", output: body.error ? body.error : body.output, updatedAt: now })
          .where(and(eq(logRequests.id, id), eq(logRequests.nodeId, node.nodeId), inArray(logRequests.status, ["pending", "sent"]))),
      ]);
      if (result?.rowsAffected !== 1) {
        const [row] = await db.select({ nodeId: logRequests.nodeId }).from(logRequests).where(eq(logRequests.id, id)).limit(1);
        if (row && row.nodeId !== node.nodeId) throw forbidden("this log request is for another node");
        throw notFound(`no open log request ${id}`);
      }
      return c.json({ ok: true }, 200);
    },
  );
}
