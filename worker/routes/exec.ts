// One-shot commands in a task's container, through NAT: the request is queued for the task's agent (operator
// role, audited), the agent picks it up with its next heartbeat or request poll, runs it and posts the
// answer; GET /v1/exec/{id} reads it, waiting for it with ?wait=. No TTY, no stdin.
import { createRoute, z } from "@hono/zod-openapi";
import { execRequestSchema, execViewSchema } from "../../api/agent-requests";
import { parseDuration } from "../../api/duration";
import { writeBatch } from "../../db/batch";
import { dropOldRequests } from "../../db/queries/agent-requests";
import { agentRequests } from "../../db/schema";
import { execAuditDetail, execView, findExec, isSettled, pickUpWindowMs, readExec } from "../agent-requests/exec";
import { execTarget } from "../agent-requests/targets";
import { auditRow } from "../audit";
import { requireRole } from "../auth/middleware";
import type { App, ResolvedDeps } from "../context";
import { badRequest, notFound } from "../errors";
import { jobIdOf } from "../jobs/apply";
import type { FleetTiming } from "../leases/timing";
import { CHUNK_RETENTION_MS, REQUEST_RETENTION_MS } from "./follow";
import { bearer, errorResponses, idParam, json, jobParams } from "./schemas";

const execSchema = z.object(execViewSchema.shape).openapi("Exec");
/** The longest GET /v1/exec/{id}?wait= holds a request, and how often it reads the store meanwhile. */
const MAX_WAIT_MS = 60_000;
const WAIT_POLL_MS = 250;

export function registerExecRoutes(app: App, deps: ResolvedDeps, timing: FleetTiming): void {
  const { store, clock } = deps;
  const { db } = store;

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{namespace}/jobs/{name}/exec",
      summary: "Run a one-shot command in a task's container (no TTY, no stdin); poll GET /v1/exec/{id} for its answer",
      description:
        "Needs the operator role. The audit row (exec.request) records the command's first word, its argument count and a SHA-256 of the whole argv, not the arguments. " +
        "The task's agent picks the command up with its next heartbeat (at most one heartbeat interval), runs it with stdout and stderr captured (the last 256 KiB of each) and kills it at timeoutMs.",
      security: bearer,
      request: { params: jobParams, body: { required: true, content: { "application/json": { schema: execRequestSchema } } } },
      responses: { 202: json(execSchema, "Queued for the task's agent"), ...errorResponses },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      requireRole(c, namespace, "operator");
      const body = c.req.valid("json");
      const jobId = jobIdOf(namespace, name);
      const target = await execTarget(db, jobId, body.taskId);
      const { heartbeatIntervalMs } = await timing.current();
      const now = clock.now();
      const row = {
        id: deps.newId(),
        kind: "exec" as const,
        namespace,
        jobId,
        taskId: target.taskId,
        nodeId: target.nodeId,
        status: "pending" as const,
        spec: { command: body.command, timeoutMs: body.timeoutMs },
        expiresAt: now + pickUpWindowMs(heartbeatIntervalMs),
        nextSeq: 0,
        result: null,
        message: null,
        createdAt: now,
        updatedAt: now,
      };
      await writeBatch(store.client, [
        db.insert(agentRequests).values(row),
        auditRow(now, { actor: c.get("operator").subject, action: "exec.request", namespace, target: jobId, detail: await execAuditDetail(body.command, target, body.timeoutMs) }),
        ...dropOldRequests(now - REQUEST_RETENTION_MS, now - CHUNK_RETENTION_MS),
      ]);
      return c.json(execView(row), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/exec/{id}",
      summary: "An exec's status and, once its agent has answered, its exit code and output",
      security: bearer,
      request: {
        params: idParam,
        query: z.object({ wait: z.string().max(16).optional().describe("Wait up to this long (at most 60s) for the answer, e.g. 10s") }),
      },
      responses: { 200: json(execSchema, "The exec"), ...errorResponses },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { wait } = c.req.valid("query");
      let waitMs = 0;
      if (wait !== undefined) {
        const parsed = parseDuration(wait);
        if (parsed === null || parsed > MAX_WAIT_MS) throw badRequest("query.wait: must be a duration of at most 60s, such as 10s", [{ path: "query.wait", message: "must be a duration of at most 60s" }]);
        waitMs = parsed;
      }
      const stored = await findExec(db, id);
      if (!stored) throw notFound(`no exec ${id}`);
      // The output may be anything the command printed: read only by those who may run commands there.
      requireRole(c, stored.namespace, "operator");
      let row = (await readExec(deps, id)) ?? stored;
      const deadline = Date.now() + waitMs;
      const abort = c.req.raw.signal;
      while (!isSettled(row) && Date.now() < deadline && !abort.aborted) {
        await new Promise((r) => setTimeout(r, Math.min(WAIT_POLL_MS, Math.max(0, deadline - Date.now()))));
        row = (await readExec(deps, id)) ?? row;
      }
      return c.json(execView(row), 200);
    },
  );
}
