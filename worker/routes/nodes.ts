// Node routes: list and get (by id or name).
import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, eq, inArray, or } from "drizzle-orm";
import { nodes, tasks, type NodeRow } from "../../db/schema";
import { duration } from "../../api/duration";
import { writeBatch } from "../../db/batch";
import { JOBS_ON_NODE, requestEvaluations, WAITING_JOBS } from "../../db/queries/evaluations";
import { LIVE_STATES } from "../../db/queries/task-states";
import { auditRow, eventRow } from "../audit";
import { requireFleetRole } from "../auth/middleware";
import type { App, ResolvedDeps } from "../context";
import type { Evaluator } from "../evaluation";
import { notFound } from "../errors";
import type { FleetTiming } from "../leases/timing";
import { displayState } from "../nodes/status";
import { runInBackground } from "./background";
import { bearer, errorResponses, idParam, json } from "./schemas";

export const nodeSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    region: z.string(),
    labels: z.record(z.string(), z.string()),
    addresses: z.array(z.object({ address: z.string(), scope: z.string() })).describe("Where other hosts reach it, as it advertised at enrollment"),
    capacity: z.object({ cpu: z.number(), memory: z.number() }),
    allocated: z.object({ cpu: z.number(), memory: z.number(), tasks: z.number() }).optional(),
    state: z.enum(["initializing", "ready", "down", "disconnected", "draining", "ineligible"]),
    eligible: z.boolean(),
    drainDeadline: z.number().nullable(),
    lastHeartbeatAt: z.number().nullable(),
    agentVersion: z.string().nullable(),
    createdAt: z.number(),
  })
  .openapi("Node");

export function publicNode(row: NodeRow, now: number, leaseTtlMs: number, allocated?: { cpu: number; memory: number; tasks: number }) {
  return {
    id: row.id,
    name: row.name,
    region: row.region,
    labels: row.labels,
    addresses: row.addresses,
    capacity: { cpu: row.cpu, memory: row.memory },
    ...(allocated ? { allocated } : {}),
    state: displayState(row, now, leaseTtlMs),
    eligible: row.eligible,
    drainDeadline: row.drainDeadline,
    lastHeartbeatAt: row.lastHeartbeatAt,
    agentVersion: row.agentVersion,
    createdAt: row.createdAt,
  };
}

export async function findNode(deps: ResolvedDeps, idOrName: string): Promise<NodeRow> {
  const [row] = await deps.store.db.select().from(nodes).where(or(eq(nodes.id, idOrName), eq(nodes.name, idOrName))).limit(1);
  if (!row) throw notFound(`node ${idOrName} does not exist`);
  return row;
}

// Nodes are fleet-wide: any valid operator token may read them; changing them takes a fleet admin.
export function registerNodeRoutes(app: App, deps: ResolvedDeps, timing: FleetTiming, evaluator: Evaluator): void {
  const { store, clock } = deps;

  /** Jobs with live tasks on a node: the ones a drain or eligibility change must re-evaluate. */
  async function jobsOn(nodeId: string): Promise<string[]> {
    const rows = await store.db.selectDistinct({ jobId: tasks.jobId }).from(tasks).where(and(eq(tasks.nodeId, nodeId), inArray(tasks.state, [...LIVE_STATES])));
    return rows.map((r) => r.jobId);
  }

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/nodes/{id}/drain",
      summary: "Drain a node: its tasks migrate under each job's parallelism; past the deadline all move at once",
      security: bearer,
      request: {
        params: idParam,
        body: { required: true, content: { "application/json": { schema: z.strictObject({ enable: z.boolean().default(true), deadline: duration({ min: 0, max: 7 * 24 * 3_600_000 }).prefault("1h") }) } } },
      },
      responses: { 200: json(z.object({ node: nodeSchema, evaluation: z.unknown().optional() }), "The node"), ...errorResponses },
    }),
    async (c) => {
      requireFleetRole(c, "admin");
      const row = await findNode(deps, c.req.valid("param").id);
      const body = c.req.valid("json");
      const now = clock.now();
      const actor = c.get("operator").subject;
      const drainDeadline = body.enable ? now + body.deadline : null;
      const affected = await jobsOn(row.id);
      await writeBatch(store.client, [
        store.db.update(nodes).set({ drainDeadline, updatedAt: now }).where(eq(nodes.id, row.id)),
        auditRow(now, { actor, action: body.enable ? "node.drain" : "node.drain-cancel", target: row.id, detail: { deadline: drainDeadline } }),
        eventRow(now, { type: body.enable ? "node.drain" : "node.drain-cancel", message: body.enable ? `drain by ${actor}, deadline ${new Date(now + body.deadline).toISOString()}` : `drain cancelled by ${actor}`, nodeId: row.id }),
        // Every job with work on the node, read in this transaction (a placement since the read counts too).
        requestEvaluations(JOBS_ON_NODE, { evalNode: row.id }, { trigger: body.enable ? "node-drain" : "node-drain-cancel", now }),
      ]);
      const evaluation = body.enable ? await evaluator.evaluateNow(affected, "node-drain") : undefined;
      if (evaluation?.deferred || evaluation?.queued || !body.enable) runInBackground(c, deps, () => evaluator.kick());
      const { leaseTtlMs } = await timing.current();
      return c.json({ node: publicNode({ ...row, drainDeadline }, now, leaseTtlMs), ...(evaluation ? { evaluation } : {}) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/nodes/{id}/eligibility",
      summary: "Mark a node eligible or ineligible for new placements (running tasks stay)",
      security: bearer,
      request: { params: idParam, body: { required: true, content: { "application/json": { schema: z.strictObject({ eligible: z.boolean() }) } } } },
      responses: { 200: json(z.object({ node: nodeSchema }), "The node"), ...errorResponses },
    }),
    async (c) => {
      requireFleetRole(c, "admin");
      const row = await findNode(deps, c.req.valid("param").id);
      const { eligible } = c.req.valid("json");
      const now = clock.now();
      const actor = c.get("operator").subject;
      await writeBatch(store.client, [
        // Marking a node eligible also ends a drain on it.
        store.db.update(nodes).set(eligible ? { eligible, drainDeadline: null, updatedAt: now } : { eligible, updatedAt: now }).where(eq(nodes.id, row.id)),
        auditRow(now, { actor, action: eligible ? "node.eligible" : "node.ineligible", target: row.id }),
        eventRow(now, { type: eligible ? "node.eligible" : "node.ineligible", message: `marked ${eligible ? "eligible" : "ineligible"} by ${actor}`, nodeId: row.id }),
        // Eligible: capacity for waiting slots. Ineligible: nothing moves, but a drain it ended may have.
        requestEvaluations(eligible ? `${WAITING_JOBS} UNION ${JOBS_ON_NODE}` : JOBS_ON_NODE, { evalNode: row.id }, { trigger: eligible ? "node-eligible" : "node-ineligible", now }),
      ]);
      runInBackground(c, deps, () => evaluator.kick());
      const { leaseTtlMs } = await timing.current();
      return c.json({ node: publicNode({ ...row, eligible, drainDeadline: eligible ? null : row.drainDeadline }, now, leaseTtlMs) }, 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/v1/nodes", summary: "List nodes", security: bearer, responses: { 200: json(z.object({ nodes: z.array(nodeSchema) }), "Nodes"), ...errorResponses } }),
    async (c) => {
      const now = clock.now();
      const { leaseTtlMs } = await timing.current();
      const [rows, usage] = await store.db.batch([
        store.db.select().from(nodes).orderBy(asc(nodes.name)),
        store.db
          .select({ nodeId: tasks.nodeId, cpu: tasks.cpu, memory: tasks.memory })
          .from(tasks)
          .where(inArray(tasks.state, [...LIVE_STATES])),
      ]);
      const allocated = new Map<string, { cpu: number; memory: number; tasks: number }>();
      for (const u of usage) {
        if (!u.nodeId) continue;
        const a = allocated.get(u.nodeId) ?? { cpu: 0, memory: 0, tasks: 0 };
        a.cpu += u.cpu;
        a.memory += u.memory;
        a.tasks += 1;
        allocated.set(u.nodeId, a);
      }
      return c.json({ nodes: rows.map((r) => publicNode(r, now, leaseTtlMs, allocated.get(r.id) ?? { cpu: 0, memory: 0, tasks: 0 })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/nodes/{id}",
      summary: "Get a node (by id or name) with its tasks",
      security: bearer,
      request: { params: idParam },
      responses: { 200: json(z.object({ node: nodeSchema, tasks: z.array(z.object({ id: z.string(), jobId: z.string(), slot: z.number(), state: z.string(), epoch: z.number() })) }), "The node"), ...errorResponses },
    }),
    async (c) => {
      const row = await findNode(deps, c.req.valid("param").id);
      const { leaseTtlMs } = await timing.current();
      const held = await store.db
        .select({ id: tasks.id, jobId: tasks.jobId, slot: tasks.slot, state: tasks.state, epoch: tasks.epoch, cpu: tasks.cpu, memory: tasks.memory })
        .from(tasks)
        .where(and(eq(tasks.nodeId, row.id), inArray(tasks.state, [...LIVE_STATES])));
      const allocated = { cpu: held.reduce((s, t) => s + t.cpu, 0), memory: held.reduce((s, t) => s + t.memory, 0), tasks: held.length };
      return c.json({ node: publicNode(row, clock.now(), leaseTtlMs, allocated), tasks: held.map(({ cpu: _c, memory: _m, ...t }) => t) }, 200);
    },
  );
}
