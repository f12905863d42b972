// Deployment routes: list, get (with per-slot progress and events), and the operator's promote, pause,
// resume and fail. Each action is one conditional write on the deployment's modify index, with its event,
// audit row and the job's evaluation in the same batch.
import { createRoute, z } from "@hono/zod-openapi";
import type { InStatement } from "@libsql/client";
import { readBatch, writeBatch } from "../../db/batch";
import { DEPLOYMENT_COLUMNS, deploymentsOf, updateDeployment, type DeploymentChange, type DeploymentRecord } from "../../db/queries/deployments";
import { requestGuardedEvaluation } from "../../db/queries/evaluations";
import type { DeploymentStatus } from "../../db/schema";
import { DEPLOYMENT_STATUSES } from "../../db/schema";
import { auditRow, CHANGED, eventRow } from "../audit";
import { requireRole } from "../auth/middleware";
import type { App, ResolvedDeps } from "../context";
import { assessDeployment, isActive, type SlotProgress } from "../deployments/assess";
import { rolloutRules } from "../deployments/rules";
import { conflict, notFound, validationError } from "../errors";
import type { Evaluator } from "../evaluation";
import { loadView } from "../evaluation/state-view";
import { jobIdOf } from "../jobs/apply";
import type { FleetTiming } from "../leases/timing";
import { runInBackground } from "./background";
import { bearer, errorResponses, jobParams, json, namespaceParam } from "./schemas";

const deploymentSchema = z
  .object({
    id: z.string(),
    jobId: z.string(),
    namespace: z.string(),
    version: z.number().describe("The version it rolls out"),
    fromVersion: z.number().nullable().describe("The version that ran before (null for a job's first)"),
    status: z.enum(DEPLOYMENT_STATUSES),
    description: z.string().describe("Where it stands: computed while it runs, the stored outcome once it has ended"),
    promoted: z.boolean().describe("Whether the canaries (of the current wave) are promoted; true when there are none"),
    wave: z.string().nullable().describe("With update.waves = region: the region rolling now"),
    wavesDone: z.array(z.string()),
    revertOf: z.string().nullable().describe("The failed deployment this one reverts (auto-revert)"),
    cause: z
      .object({ secret: z.string(), version: z.number() })
      .nullable()
      .optional()
      .describe("Set when a secret's new version started it (a rotation): which secret, at which version"),
    progressDeadlineAt: z.number().nullable(),
    createdAt: z.number(),
    updatedAt: z.number(),
  })
  .openapi("Deployment");

const slotSchema = z
  .object({
    slot: z.number().describe("Slot number; canaries are -1 … -N"),
    canary: z.boolean(),
    taskId: z.string().nullable().describe("The new version's task in the slot, if any"),
    nodeId: z.string().nullable(),
    region: z.string().nullable(),
    state: z.string().nullable(),
    placedAt: z.number().nullable(),
    healthySince: z.number().nullable(),
    healthy: z.boolean().describe("Ran healthy for update.minHealthy"),
    oldVersion: z.number().nullable().describe("The version of an old copy still running in the slot"),
    offline: z.boolean().describe("Waits on a host that is not ready: pending, not failed"),
  })
  .openapi("DeploymentSlot");

const detailSchema = deploymentSchema
  .extend({
    counts: z.object({ desired: z.number(), canaries: z.number(), placed: z.number(), healthy: z.number(), old: z.number(), offline: z.number() }),
    slots: z.array(slotSchema),
    events: z.array(z.object({ id: z.number(), at: z.number(), type: z.string(), message: z.string() })),
  })
  .openapi("DeploymentDetail");

const deploymentParams = namespaceParam.extend({ id: z.string().min(1).max(64).openapi({ param: { name: "id", in: "path" } }) });
const listQuery = z.strictObject({
  job: z.string().max(64).optional().describe("Only this job's deployments"),
  status: z.enum(DEPLOYMENT_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

type Action = "promote" | "pause" | "resume" | "fail";

export function registerDeploymentRoutes(app: App, deps: ResolvedDeps, timing: FleetTiming, evaluator: Evaluator): void {
  const { store, clock } = deps;

  async function byId(namespace: string, id: string): Promise<DeploymentRecord> {
    // A unique prefix of the id is enough, as people type them from listings.
    const [rows] = await readBatch(store.client, [
      { sql: `SELECT ${DEPLOYMENT_COLUMNS} FROM deployments d WHERE d.namespace = ? AND d.id >= ? AND d.id < ? || '~' ORDER BY d.id LIMIT 2`, args: [namespace, id, id] },
    ]);
    const found = deploymentsOf(rows).filter((d) => d.id.startsWith(id));
    if (found.length === 0) throw notFound(`deployment ${id} does not exist in namespace ${namespace}`);
    if (found.length > 1 && found[0]!.id !== id) throw conflict(`deployment id ${id} is ambiguous: give more of it`);
    return found[0]!;
  }

  async function latestOfJob(namespace: string, name: string): Promise<DeploymentRecord> {
    const [rows] = await readBatch(store.client, [
      { sql: `SELECT ${DEPLOYMENT_COLUMNS} FROM deployments d WHERE d.job_id = ? ORDER BY d.created_at DESC, d.id DESC LIMIT 1`, args: [jobIdOf(namespace, name)] },
    ]);
    const d = deploymentsOf(rows)[0];
    if (!d) throw notFound(`job ${jobIdOf(namespace, name)} has no deployment`);
    return d;
  }

  /** The deployment with its progress: the watcher's own reading of the store, written nowhere. */
  async function detail(d: DeploymentRecord) {
    const [view, [eventRows]] = await Promise.all([
      loadView(deps, [d.jobId], `read:${d.id}`, await timing.current()),
      readBatch(store.client, [{ sql: "SELECT id, at, type, message FROM events WHERE deployment_id = ? ORDER BY id DESC LIMIT 200", args: [d.id] }]),
    ]);
    const job = view.jobs[0];
    const [versionRows] = await readBatch(store.client, [{ sql: "SELECT spec FROM job_versions WHERE job_id = ? AND version = ?", args: [d.jobId, d.version] }]);
    const spec = versionRows?.rows[0] ? JSON.parse(String(versionRows.rows[0]["spec"])) : view.specs.get(d.jobId);
    let slots: SlotProgress[] = [];
    let description = d.description;
    let status = d.status;
    if (job && spec) {
      const nodes = new Map(view.nodes.map((n) => [n.id, n]));
      const a = assessDeployment(d, rolloutRules(spec.update), job, view.tasks.filter((t) => t.jobId === d.jobId), nodes, view.now);
      slots = a.slots;
      if (isActive(d.status)) {
        // As the watcher judges it now: its next evaluation writes the same outcome.
        description = a.summary;
        if (a.update?.status !== undefined) status = a.update.status;
      }
    }
    const events = (eventRows?.rows ?? []).reverse().map((r) => ({ id: Number(r["id"]), at: Number(r["at"]), type: String(r["type"]), message: String(r["message"]) }));
    const regular = slots.filter((s) => !s.canary);
    return {
      ...publicDeployment(d),
      status,
      description,
      counts: {
        desired: regular.length,
        canaries: slots.length - regular.length,
        placed: regular.filter((s) => s.taskId !== null).length,
        healthy: regular.filter((s) => s.healthy).length,
        old: regular.filter((s) => s.oldVersion !== null).length,
        offline: regular.filter((s) => s.offline).length,
      },
      slots,
      events,
    };
  }

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{namespace}/deployments",
      summary: "List deployments, newest first",
      security: bearer,
      request: { params: namespaceParam, query: listQuery },
      responses: { 200: json(z.object({ deployments: z.array(deploymentSchema) }), "Deployments"), ...errorResponses },
    }),
    async (c) => {
      const { namespace } = c.req.valid("param");
      requireRole(c, namespace, "viewer");
      const q = c.req.valid("query");
      const where = ["d.namespace = ?"];
      const args: (string | number)[] = [namespace];
      if (q.job !== undefined) {
        where.push("d.job_id = ?");
        args.push(jobIdOf(namespace, q.job));
      }
      if (q.status !== undefined) {
        where.push("d.status = ?");
        args.push(q.status);
      }
      const [rows] = await readBatch(store.client, [{ sql: `SELECT ${DEPLOYMENT_COLUMNS} FROM deployments d WHERE ${where.join(" AND ")} ORDER BY d.created_at DESC, d.id DESC LIMIT ?`, args: [...args, q.limit] }]);
      return c.json({ deployments: deploymentsOf(rows).map(publicDeployment) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{namespace}/deployments/{id}",
      summary: "A deployment with its per-slot progress and its events (the id or a unique prefix of it)",
      security: bearer,
      request: { params: deploymentParams },
      responses: { 200: json(detailSchema, "The deployment"), ...errorResponses },
    }),
    async (c) => {
      const { namespace, id } = c.req.valid("param");
      requireRole(c, namespace, "viewer");
      return c.json(await detail(await byId(namespace, id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{namespace}/jobs/{name}/deployment",
      summary: "The job's latest deployment with its per-slot progress and its events",
      security: bearer,
      request: { params: jobParams },
      responses: { 200: json(detailSchema, "The deployment"), ...errorResponses },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      requireRole(c, namespace, "viewer");
      return c.json(await detail(await latestOfJob(namespace, name)), 200);
    },
  );

  const actions: { action: Action; summary: string; body?: z.ZodType }[] = [
    { action: "promote", summary: "Promote the canaries: the rollout goes on to the other slots (refused while a canary is not healthy, unless force)" },
    { action: "pause", summary: "Pause the rollout: no more old-version slots are updated; failed tasks are still replaced" },
    { action: "resume", summary: "Resume a paused rollout; its progress deadline starts again" },
    { action: "fail", summary: "Fail the rollout now (with update.autoRevert, the last successful version is rolled out again)" },
  ];
  const actionBody = z.strictObject({ force: z.boolean().default(false).describe("promote: even while a canary is not healthy") });
  for (const { action, summary } of actions) {
    app.openapi(
      createRoute({
        method: "post",
        path: `/v1/namespaces/{namespace}/deployments/{id}/${action}`,
        summary,
        security: bearer,
        request: { params: deploymentParams, body: { required: false, content: { "application/json": { schema: actionBody } } } },
        responses: { 200: json(z.object({ deployment: deploymentSchema, evaluation: z.unknown().optional() }), "The deployment after the change"), ...errorResponses },
      }),
      async (c) => {
        const { namespace, id } = c.req.valid("param");
        requireRole(c, namespace, "operator");
        const parsed = actionBody.safeParse((await c.req.json().catch(() => ({}))) ?? {});
        if (!parsed.success) throw validationError(parsed.error);
        const body = parsed.data;
        const actor = c.get("operator").subject;
        const d = await byId(namespace, id);
        const now = clock.now();
        const change = await changeFor(action, d, body.force, actor);
        const from: DeploymentStatus[] = action === "pause" ? ["running"] : action === "resume" ? ["paused"] : ["running", "paused"];
        const guard = { sql: "EXISTS (SELECT 1 FROM deployments WHERE id = ? AND modify_index = ?)", args: [d.id, d.modifyIndex + 1] };
        const statements: InStatement[] = [
          updateDeployment(d.id, d.modifyIndex, change.fields, now, from),
          eventRow(now, { type: `deployment.${change.event}`, message: `${change.message} by ${actor}`, namespace, jobId: d.jobId, deploymentId: d.id }, CHANGED),
          auditRow(now, { actor, action: `deployment.${action}`, namespace, target: d.id, detail: { jobId: d.jobId, version: d.version } }, guard),
          requestGuardedEvaluation(d.jobId, guard, { trigger: `deployment-${action}`, now }),
        ];
        const [result] = await writeBatch(store.client, statements);
        if (result?.rowsAffected !== 1) throw conflict(`deployment ${d.id} changed meanwhile; look again and retry`);
        const evaluation = await evaluator.evaluateNow([d.jobId], `deployment-${action}`);
        if (evaluation.deferred || evaluation.queued) runInBackground(c, deps, () => evaluator.kick());
        const [after] = await readBatch(store.client, [{ sql: `SELECT ${DEPLOYMENT_COLUMNS} FROM deployments d WHERE d.id = ?`, args: [d.id] }]);
        return c.json({ deployment: publicDeployment(deploymentsOf(after)[0] ?? { ...d, ...change.fields }), evaluation }, 200);
      },
    );
  }

  async function changeFor(action: Action, d: DeploymentRecord, force: boolean, actor: string): Promise<{ fields: DeploymentChange; event: string; message: string }> {
    if (!isActive(d.status)) throw conflict(`deployment ${d.id} is ${d.status}: only a running or paused deployment can be changed`);
    switch (action) {
      case "pause":
        if (d.status === "paused") throw conflict(`deployment ${d.id} is paused already`);
        return { fields: { status: "paused" }, event: "paused", message: "paused" };
      case "resume":
        if (d.status !== "paused") throw conflict(`deployment ${d.id} is not paused`);
        return { fields: { status: "running", progressDeadlineAt: null }, event: "resumed", message: "resumed" };
      case "fail":
        return { fields: { status: "failed", description: `failed: by ${actor}` }, event: "failed", message: "failed" };
      case "promote": {
        if (d.promoted) throw conflict(`deployment ${d.id} has no canaries waiting for a promote`);
        if (!force) {
          const view = await detail(d);
          const canaries = view.slots.filter((s) => s.canary);
          const healthy = canaries.filter((s) => s.healthy && (d.wave === null || s.region === d.wave)).length;
          if (healthy < canaries.length) throw conflict(`${healthy} of ${canaries.length} canaries are healthy: wait, or promote with force`);
        }
        return { fields: { promoted: true, progressDeadlineAt: null }, event: "promoted", message: "promoted" };
      }
    }
  }
}

function publicDeployment(d: DeploymentRecord) {
  return {
    id: d.id,
    jobId: d.jobId,
    namespace: d.namespace,
    version: d.version,
    fromVersion: d.fromVersion,
    status: d.status,
    description: d.description,
    promoted: d.promoted,
    wave: d.wave,
    wavesDone: d.wavesDone,
    revertOf: d.revertOf,
    cause: d.cause,
    progressDeadlineAt: d.progressDeadlineAt,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}
