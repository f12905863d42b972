// Job routes: apply (YAML or JSON), list, get, versions, tasks, events, stop, delete.
import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, inArray, or } from "drizzle-orm";
import { jobSpecSchema, type JobSpec } from "../../api/job-spec";
import { writeBatch } from "../../db/batch";
import { deleteJobEvaluation, requestGuardedEvaluation } from "../../db/queries/evaluations";
import { cancelActiveDeployments } from "../../db/queries/deployments";
import { taskSampleSchema as taskSampleShape } from "../../api/task-stats";
import { readTaskSamples } from "../../db/queries/task-stats";
import { LIVE_SQL, LIVE_STATES } from "../../db/queries/task-states";
import { events, jobs, jobVersions, tasks } from "../../db/schema";
import { auditRow, CHANGED, eventRow } from "../audit";
import { requireRole, requireRoleSomewhere } from "../auth/middleware";
import type { App, ResolvedDeps } from "../context";
import { readJobSpec } from "../body";
import { conflict, notFound, validationError } from "../errors";
import { applyJob, jobIdOf, templateHash, writeScale, type TakeEvaluation } from "../jobs/apply";
import type { Evaluator } from "../evaluation";
import { reschedulePolicy } from "../evaluation/state-view";
import { replacementsSpent } from "../scheduler/reconcile";
import { runInBackground } from "./background";
import { bearer, errorResponses, jobFileBody, jobParams, json, namespaceParam } from "./schemas";

const jobSchema = z
  .object({
    id: z.string(),
    namespace: z.string(),
    name: z.string(),
    type: z.enum(["service", "batch"]),
    status: z.enum(["running", "stopped"]),
    version: z.number(),
    replicas: z.number().describe("The job's count; a change to it alone is a scale, not a new version"),
    createdAt: z.number(),
    updatedAt: z.number(),
  })
  .openapi("Job");

export const taskSampleSchema = z.object(taskSampleShape.shape).openapi("TaskSample");

const taskSchema = z
  .object({
    id: z.string(),
    slot: z.number(),
    version: z.number(),
    nodeId: z.string().nullable(),
    state: z.string(),
    desired: z.string(),
    epoch: z.number(),
    leaseExpiresAt: z.number().nullable(),
    health: z.string().nullable(),
    exitCode: z.number().nullable(),
    restarts: z.number(),
    attempt: z.number(),
    boundPorts: z.array(z.object({ container: z.number(), host: z.number() })),
    message: z.string().nullable(),
    stats: taskSampleSchema.nullable().describe("The task's latest cpu and memory sample, as its agent reported it; null before the first"),
    final: z
      .boolean()
      .describe("The control plane will neither run this copy again nor replace it on its own: stopped or stopping, a completed batch task, or failed with its slot's reschedule attempts spent"),
  })
  .openapi("Task");

const applyQuerySchema = z.strictObject({
  checkVersion: z.coerce.number().int().min(0).optional().describe("Apply only if the job is still at this version (0: only if it does not exist yet)"),
});

const applyRoute = createRoute({
  method: "post",
  path: "/v1/jobs",
  summary: "Apply a job spec (YAML or JSON); a new version is stored only when the spec changed",
  security: bearer,
  request: {
    query: applyQuerySchema,
    body: jobFileBody,
  },
  responses: {
    200: json(
      z.object({
        job: jobSchema,
        changed: z.boolean(),
        scaled: z.object({ from: z.number(), to: z.number() }).optional().describe("Set when only replicas changed: no new version"),
        deploymentId: z.string().optional().describe("The deployment rolling out the new version (service jobs)"),
        evaluation: z.unknown().optional(),
      }),
      "The job as stored",
    ),
    ...errorResponses,
  },
});

export function registerJobRoutes(app: App, deps: ResolvedDeps, evaluator: Evaluator): void {
  const { store, clock } = deps;
  const { db } = store;

  /**
   * The job's evaluation row, taken in the same batch as the write that requests it (Broker.takeInBatch);
   * token() is the hold to run it with once the write has landed.
   */
  function takeInWrite(now: number): { take: TakeEvaluation; token: () => string } {
    let token = "";
    return {
      take: async (jobId, guard) => {
        const taken = await evaluator.takeInBatch([jobId], now, guard);
        token = taken.token;
        return taken.statement;
      },
      token: () => token,
    };
  }

  // Parsed by hand so YAML and JSON share one validation path and one error shape.
  app.openAPIRegistry.registerPath(applyRoute);
  app.post("/v1/jobs", async (c) => {
    // The namespace is in the body; a token that may apply jobs in none is refused before it is parsed.
    requireRoleSomewhere(c, "operator");
    const spec = await readJobSpec(c);
    requireRole(c, spec.namespace, "operator");
    const query = applyQuerySchema.safeParse(c.req.query());
    if (!query.success) throw validationError(query.error, "query");
    const now = clock.now();
    const taking = takeInWrite(now);
    const result = await applyJob(store, now, c.get("operator").subject, spec, taking.take, { newId: deps.newId, ...(query.data.checkVersion !== undefined ? { expectVersion: query.data.checkVersion } : {}) });
    // The apply's batch wrote the job's evaluation row and took it: run it here, so the reply says what was
    // placed. If it loses its races, or another instance holds the row, it is run in the background.
    const evaluation = result.changed ? await evaluator.runTaken(taking.token(), result.taken, "job-apply") : undefined;
    if (evaluation?.deferred || evaluation?.queued) runInBackground(c, deps, () => evaluator.kick());
    return c.json(
      {
        job: publicJob(result.job, spec.replicas),
        changed: result.changed,
        ...(result.scaled ? { scaled: result.scaled } : {}),
        ...(result.deploymentId ? { deploymentId: result.deploymentId } : {}),
        ...(evaluation ? { evaluation } : {}),
      },
      200,
    );
  });

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{namespace}/jobs",
      summary: "List jobs in a namespace",
      security: bearer,
      request: { params: namespaceParam },
      responses: { 200: json(z.object({ jobs: z.array(jobSchema) }), "Jobs"), ...errorResponses },
    }),
    async (c) => {
      const { namespace } = c.req.valid("param");
      requireRole(c, namespace, "viewer");
      const rows = await db.select().from(jobs).where(eq(jobs.namespace, namespace)).orderBy(asc(jobs.name));
      return c.json({ jobs: rows.map(publicJob) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{namespace}/jobs/{name}",
      summary: "Get a job with its current spec and tasks",
      security: bearer,
      request: { params: jobParams },
      responses: {
        200: json(z.object({ job: jobSchema, spec: z.unknown(), tasks: z.array(taskSchema), summary: z.record(z.string(), z.number()) }), "The job"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      requireRole(c, namespace, "viewer");
      const id = jobIdOf(namespace, name);
      const [[jobRows, versionRows, taskRows], samples] = await Promise.all([
        db.batch([
          db.select().from(jobs).where(eq(jobs.id, id)).limit(1),
          db.select().from(jobVersions).where(eq(jobVersions.jobId, id)).orderBy(desc(jobVersions.version)).limit(1),
          db.select().from(tasks).where(and(eq(tasks.jobId, id), inArray(tasks.state, ["pending", "placed", "leased", "running", "lost", "failed", "complete"]))).orderBy(asc(tasks.slot)),
        ]),
        readTaskSamples(db, { namespace, jobId: id }, 1),
      ]);
      const latest = new Map(samples.map((t) => [t.taskId, t.samples[0] ?? null]));
      const job = jobRows[0];
      if (!job) throw notFound(`job ${id} does not exist`);
      const summary: Record<string, number> = {};
      for (const t of taskRows) if (t.desired === "run" || t.state !== "stopped") summary[t.state] = (summary[t.state] ?? 0) + 1;
      const stored = (versionRows[0]?.spec ?? null) as JobSpec | null;
      // The spec as it runs: its version's template with the job's own count.
      const spec = stored && job.replicas !== null ? { ...stored, replicas: job.replicas } : stored;
      const now = deps.clock.now();
      const final = (t: TaskRow) =>
        t.desired === "stop" ||
        (job.type === "batch" && t.state === "complete") ||
        (t.state === "failed" && spec !== null && replacementsSpent(reschedulePolicy(spec.reschedule), t, now));
      return c.json({ job: publicJob(job, stored?.replicas), spec, tasks: taskRows.map((t) => ({ ...publicTask(t), stats: latest.get(t.id) ?? null, final: final(t) })), summary }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{namespace}/jobs/{name}/versions",
      summary: "List a job's versions, newest first",
      security: bearer,
      request: { params: jobParams },
      responses: {
        200: json(
          z.object({
            versions: z.array(
              z.object({
                version: z.number(),
                spec: z.unknown(),
                secretVersions: z.record(z.string(), z.number()).optional().describe("The version of each secret it uses (names and versions only)"),
                createdBy: z.string(),
                createdAt: z.number(),
              }),
            ),
          }),
          "Versions",
        ),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      requireRole(c, namespace, "viewer");
      const id = jobIdOf(namespace, name);
      const rows = await db.select().from(jobVersions).where(eq(jobVersions.jobId, id)).orderBy(desc(jobVersions.version));
      if (rows.length === 0) throw notFound(`job ${id} does not exist`);
      return c.json(
        { versions: rows.map((v) => ({ version: v.version, spec: v.spec, ...(v.secretVersions ? { secretVersions: v.secretVersions } : {}), createdBy: v.createdBy, createdAt: v.createdAt })) },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{namespace}/jobs/{name}/events",
      summary: "Recent events of a job and its tasks",
      security: bearer,
      request: { params: jobParams, query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }) },
      responses: {
        200: json(z.object({ events: z.array(z.object({ id: z.number(), at: z.number(), type: z.string(), message: z.string(), taskId: z.string().nullable(), nodeId: z.string().nullable() })) }), "Events"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      const { limit } = c.req.valid("query");
      requireRole(c, namespace, "viewer");
      const rows = await db.select().from(events).where(eq(events.jobId, jobIdOf(namespace, name))).orderBy(desc(events.id)).limit(limit);
      return c.json({ events: rows.map((e) => ({ id: e.id, at: e.at, type: e.type, message: e.message, taskId: e.taskId, nodeId: e.nodeId })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{namespace}/jobs/{name}/rollback",
      summary: "Roll back: a new version equal to an earlier one (the one before the current, by default), rolled out under the job's update strategy",
      security: bearer,
      request: {
        params: jobParams,
        body: {
          required: false,
          content: { "application/json": { schema: z.strictObject({ version: z.int().min(1).optional().describe("The version to go back to") }) } },
        },
      },
      responses: {
        200: json(z.object({ job: jobSchema, changed: z.boolean(), rolledBackTo: z.number(), evaluation: z.unknown().optional() }), "The job at its new version"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : {};
      requireRole(c, namespace, "operator");
      const id = jobIdOf(namespace, name);
      const [job] = await db.select().from(jobs).where(eq(jobs.id, id)).limit(1);
      if (!job) throw notFound(`job ${id} does not exist`);
      if (job.status !== "running") throw conflict(`job ${id} is stopped: apply the spec you want to run`);
      const target = body.version ?? job.version - 1;
      if (target === job.version) throw conflict(`job ${id} is at version ${target} already`);
      const [row] = target >= 1 ? await db.select().from(jobVersions).where(and(eq(jobVersions.jobId, id), eq(jobVersions.version, target))).limit(1) : [];
      if (!row) throw notFound(target < 1 ? `job ${id} has no version before ${job.version}` : `job ${id} has no version ${target}`);
      // The old template as it was stored (durations in ms, defaults filled in), with today's count.
      const stored = row.spec as JobSpec;
      const spec: JobSpec = { ...stored, replicas: job.replicas ?? stored.replicas };
      const now = clock.now();
      const taking = takeInWrite(now);
      // The secrets at the versions the old version used: a rollback takes back a rotation too.
      const result = await applyJob(store, now, c.get("operator").subject, spec, taking.take, { rollbackTo: target, newId: deps.newId, keepCount: true, ...(row.secretVersions ? { secretVersions: row.secretVersions } : {}) });
      const evaluation = result.changed ? await evaluator.runTaken(taking.token(), result.taken, "job-rollback") : undefined;
      if (evaluation?.deferred || evaluation?.queued) runInBackground(c, deps, () => evaluator.kick());
      return c.json({ job: publicJob(result.job, spec.replicas), changed: result.changed, rolledBackTo: target, ...(evaluation ? { evaluation } : {}) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{namespace}/jobs/{name}/scale",
      summary: "Change a running job's count: no new version, and no surviving replica is restarted",
      security: bearer,
      request: {
        params: jobParams,
        body: {
          required: true,
          content: {
            "application/json": {
              schema: z.strictObject({
                replicas: jobSpecSchema.shape.replicas.unwrap(),
                version: z.int().min(1).optional().describe("Scale only if the job is still at this version"),
              }),
            },
          },
        },
      },
      responses: {
        200: json(z.object({ job: jobSchema, changed: z.boolean(), scaled: z.object({ from: z.number(), to: z.number() }).optional(), evaluation: z.unknown().optional() }), "The job as scaled"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      const body = c.req.valid("json");
      requireRole(c, namespace, "operator");
      const id = jobIdOf(namespace, name);
      const actor = c.get("operator").subject;
      for (let attempt = 1; ; attempt++) {
        const [job] = await db.select().from(jobs).where(eq(jobs.id, id)).limit(1);
        if (!job) throw notFound(`job ${id} does not exist`);
        if (job.status !== "running") throw conflict(`job ${id} is stopped: apply it to run it again`);
        if (body.version !== undefined && body.version !== job.version) throw conflict(`job ${id} is at version ${job.version}, not ${body.version}`);
        const [version] = await db.select({ spec: jobVersions.spec, secretVersions: jobVersions.secretVersions }).from(jobVersions).where(and(eq(jobVersions.jobId, id), eq(jobVersions.version, job.version))).limit(1);
        const stored = version?.spec as JobSpec | undefined;
        const from = job.replicas ?? stored?.replicas ?? 0;
        if (from === body.replicas) return c.json({ job: publicJob(job, from), changed: false }, 200);
        const now = clock.now();
        // The version's template hash: a job written before the count left the version gets it now.
        const specHash = stored ? await templateHash(stored, version?.secretVersions) : job.specHash;
        const taking = takeInWrite(now);
        const result = await writeScale(store, now, actor, job, from, body.replicas, specHash, taking.take);
        if (result) {
          const evaluation = await evaluator.runTaken(taking.token(), result.taken, "job-scale");
          if (evaluation?.deferred || evaluation?.queued) runInBackground(c, deps, () => evaluator.kick());
          return c.json({ job: publicJob(result.job), changed: true, scaled: result.scaled, ...(evaluation ? { evaluation } : {}) }, 200);
        }
        if (attempt >= 5) throw conflict(`job ${id} is being changed concurrently; try again`);
      }
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{namespace}/jobs/{name}/stop",
      summary: "Stop a job: its tasks are stopped, its versions kept",
      security: bearer,
      request: { params: jobParams },
      responses: { 200: json(z.object({ job: jobSchema, evaluation: z.unknown().optional() }), "The stopped job"), ...errorResponses },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      requireRole(c, namespace, "operator");
      const id = jobIdOf(namespace, name);
      const now = clock.now();
      const actor = c.get("operator").subject;
      const [job] = await db.select().from(jobs).where(eq(jobs.id, id)).limit(1);
      if (!job) throw notFound(`job ${id} does not exist`);
      if (job.status === "stopped") return c.json({ job: publicJob(job) }, 200);
      const [result] = await writeBatch(store.client, [
        db.update(jobs).set({ status: "stopped", modifyIndex: job.modifyIndex + 1, updatedAt: now }).where(and(eq(jobs.id, id), eq(jobs.modifyIndex, job.modifyIndex))),
        auditRow(now, { actor, action: "job.stop", namespace, target: id }, CHANGED),
        eventRow(now, { type: "job.stop", message: `stopped by ${actor}`, namespace, jobId: id }, CHANGED),
        requestGuardedEvaluation(id, { sql: "EXISTS (SELECT 1 FROM jobs WHERE id = ? AND modify_index = ?)", args: [id, job.modifyIndex + 1] }, { trigger: "job-stop", now }),
        cancelActiveDeployments(id, `job stopped by ${actor}`, now, { sql: "EXISTS (SELECT 1 FROM jobs WHERE id = ? AND modify_index = ?)", args: [id, job.modifyIndex + 1] }),
      ]);
      if (result?.rowsAffected !== 1) throw conflict(`job ${id} changed while stopping it; try again`);
      const evaluation = await evaluator.evaluateNow([id], "job-stop");
      if (evaluation.deferred || evaluation.queued) runInBackground(c, deps, () => evaluator.kick());
      return c.json({ job: publicJob({ ...job, status: "stopped", updatedAt: now }), evaluation }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/namespaces/{namespace}/jobs/{name}",
      summary: "Delete a stopped job whose tasks have all stopped",
      security: bearer,
      request: { params: jobParams },
      responses: { 200: json(z.object({ deleted: z.string() }), "Deleted"), ...errorResponses },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      requireRole(c, namespace, "operator");
      const id = jobIdOf(namespace, name);
      const now = clock.now();
      const [job] = await db.select().from(jobs).where(eq(jobs.id, id)).limit(1);
      if (!job) throw notFound(`job ${id} does not exist`);
      if (job.status !== "stopped") throw conflict(`job ${id} is running: stop it first`);
      // A copy lost with its loss still ahead (a node taken over) may still run: it counts as live.
      const live = await db
        .select({ id: tasks.id })
        .from(tasks)
        .where(and(eq(tasks.jobId, id), or(inArray(tasks.state, [...LIVE_STATES]), and(eq(tasks.state, "lost"), gt(tasks.lostAt, now)))))
        .limit(1);
      if (live.length > 0) throw conflict(`job ${id} still has tasks that have not stopped`);
      // Guarded on modify_index and on no live task, so a racing apply or placement wins cleanly.
      const [result] = await writeBatch(store.client, [
        {
          sql: `DELETE FROM jobs WHERE id = ? AND modify_index = ?
                AND NOT EXISTS (SELECT 1 FROM tasks WHERE job_id = ? AND (state IN ${LIVE_SQL} OR (state = 'lost' AND lost_at > ?)))`,
          args: [id, job.modifyIndex, id, now],
        },
        // Each guard reads changes() of the statement just before it: the delete, then the audit insert.
        auditRow(now, { actor: c.get("operator").subject, action: "job.delete", namespace, target: id }, CHANGED),
        eventRow(now, { type: "job.delete", message: `deleted by ${c.get("operator").subject}`, namespace, jobId: id }, CHANGED),
        // Explicit rather than ON DELETE CASCADE: foreign-key enforcement is per connection and not assured remotely.
        { sql: "DELETE FROM job_versions WHERE job_id = ? AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = ?)", args: [id, id] },
        { sql: "DELETE FROM tasks WHERE job_id = ? AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = ?)", args: [id, id] },
        { sql: "DELETE FROM deployments WHERE job_id = ? AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = ?)", args: [id, id] },
        deleteJobEvaluation(id),
      ]);
      if (result?.rowsAffected !== 1) throw conflict(`job ${id} changed while deleting it; try again`);
      return c.json({ deleted: id }, 200);
    },
  );
}

function publicJob(job: typeof jobs.$inferSelect, versionReplicas?: number) {
  return {
    id: job.id,
    namespace: job.namespace,
    name: job.name,
    type: job.type,
    status: job.status,
    version: job.version,
    replicas: job.replicas ?? versionReplicas ?? 0,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  };
}

type TaskRow = typeof tasks.$inferSelect;

export function publicTask(t: TaskRow) {
  return {
    id: t.id,
    slot: t.slot,
    version: t.version,
    nodeId: t.nodeId,
    state: t.state,
    desired: t.desired,
    epoch: t.epoch,
    leaseExpiresAt: t.leaseExpiresAt,
    health: t.health,
    exitCode: t.exitCode,
    restarts: t.restarts,
    attempt: t.attempt,
    boundPorts: t.boundPorts,
    message: t.message,
  };
}
