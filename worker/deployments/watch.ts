// The deployment watcher inside an evaluation: assesses each evaluated job's current deployment on the
// state view, gives the reconciler its gate, and turns the assessment into conditional writes. Auto-revert
// writes a new version (an earlier successful one's template) like a rollback, in one batch with the end
// of the failed deployment, so a crash leaves either both or neither.
import type { InStatement } from "@libsql/client";
import type { JobSpec } from "../../api/job-spec";
import { readBatch, writeBatch } from "../../db/batch";
import { updateDeployment, type DeploymentRecord } from "../../db/queries/deployments";
import { CHANGED, eventRow } from "../audit";
import type { ResolvedDeps } from "../context";
import type { StateView } from "../evaluation/state-view";
import { applyJob } from "../jobs/apply";
import type { NodeView, TaskView } from "../scheduler/types";
import { assessDeployment } from "./assess";
import { rolloutRules } from "./rules";

export interface RolloutWrites {
  statements: InStatement[];
  /** Indexes of the deployment updates: one that changed nothing lost a race (a pause, a promote). */
  checks: number[];
  /** Jobs whose deployment wants another look at this time. */
  wake: Map<string, number>;
  /** Failed deployments whose job asks for an automatic revert. */
  reverts: DeploymentRecord[];
}

/** Sets each evaluated job's `rollout` gate on the view, and returns the deployment writes. */
export function watchDeployments(view: StateView): RolloutWrites {
  const out: RolloutWrites = { statements: [], checks: [], wake: new Map(), reverts: [] };
  const nodes = new Map<string, NodeView>(view.nodes.map((n) => [n.id, n]));
  const tasksByJob = new Map<string, TaskView[]>();
  for (const t of view.tasks) {
    let list = tasksByJob.get(t.jobId);
    if (list === undefined) tasksByJob.set(t.jobId, (list = []));
    list.push(t);
  }
  for (const job of view.jobs) {
    const d = view.deployments.get(job.id);
    const spec = view.specs.get(job.id);
    if (d === undefined || spec === undefined || job.status !== "running") continue;
    const rules = rolloutRules(spec.update);
    const a = assessDeployment(d, rules, job, tasksByJob.get(job.id) ?? [], nodes, view.now);
    job.rollout = a.gate;
    if (a.wakeAt !== null) out.wake.set(job.id, a.wakeAt);
    if (a.update !== null) {
      out.checks.push(out.statements.length);
      out.statements.push(updateDeployment(d.id, d.modifyIndex, a.update, view.now));
      for (const e of a.events) out.statements.push(eventRow(view.now, { ...e, namespace: job.namespace, jobId: job.id, deploymentId: d.id }, CHANGED));
    }
    const failed = a.update?.status === "failed" || (d.status === "failed" && a.update === null);
    if (failed && rules.autoRevert && d.revertOf === null && !d.description.includes(NOTHING_TO_REVERT)) {
      out.reverts.push({ ...d, ...(a.update ?? {}), modifyIndex: a.update === null ? d.modifyIndex : d.modifyIndex + 1 } as DeploymentRecord);
    }
  }
  return out;
}

const NOTHING_TO_REVERT = "no earlier successful version to revert to";

/**
 * Rolls a failed deployment's job back to the last version whose deployment succeeded, as a new version
 * under the same update rules. Conditional on the job still being at the failed version: a job changed
 * meanwhile is left alone. A deployment that is itself a revert is not reverted again.
 */
export async function revertDeployment(deps: ResolvedDeps, d: DeploymentRecord, replicas: number): Promise<number | null> {
  const { store } = deps;
  const now = deps.clock.now();
  const [target, current] = await readBatch(store.client, [
    {
      sql: `SELECT v.version, v.spec, v.secret_versions FROM deployments d JOIN job_versions v ON v.job_id = d.job_id AND v.version = d.version
            WHERE d.job_id = ? AND d.status = 'successful' AND d.version < ? ORDER BY d.version DESC LIMIT 1`,
      args: [d.jobId, d.version],
    },
    { sql: "SELECT version FROM jobs WHERE id = ?", args: [d.jobId] },
  ]);
  if (Number(current?.rows[0]?.["version"]) !== d.version) return null;
  const row = target?.rows[0];
  if (row === undefined) {
    await writeBatch(store.client, [updateDeployment(d.id, d.modifyIndex, { description: `${d.description}; ${NOTHING_TO_REVERT}` }, now, ["failed"])]);
    return null;
  }
  const to = Number(row["version"]);
  const spec = { ...(JSON.parse(String(row["spec"])) as JobSpec), replicas };
  try {
    const result = await applyJob(store, now, `deployment ${d.id.slice(0, 8)}`, spec, undefined, {
      rollbackTo: to,
      expectVersion: d.version,
      revertOf: d.id,
      newId: deps.newId,
      keepCount: true,
      // The secrets at the versions the good version used: a failed rotation is reverted too.
      ...(row["secret_versions"] ? { secretVersions: JSON.parse(String(row["secret_versions"])) as Record<string, number> } : {}),
      alsoWrite: (version, guard) => [
        {
          sql: `UPDATE deployments SET status = 'reverted', description = description || ?, modify_index = modify_index + 1, updated_at = ?
                WHERE id = ? AND status = 'failed' AND ${guard.sql}`,
          args: [`; reverted to version ${to} as version ${version}`, now, d.id, ...guard.args],
        },
        eventRow(now, { type: "deployment.reverted", message: `reverted to version ${to} as version ${version}`, namespace: d.namespace, jobId: d.jobId, deploymentId: d.id }, CHANGED),
      ],
    });
    if (!result.changed) {
      await writeBatch(store.client, [updateDeployment(d.id, d.modifyIndex, { description: `${d.description}; ${NOTHING_TO_REVERT}` }, now, ["failed"])]);
      return null;
    }
    return result.job.version;
  } catch (err) {
    // The job changed while we looked (a conflict): whoever changed it decides what runs now.
    if (err instanceof Error && "status" in err && (err as { status: number }).status === 409) return null;
    throw err;
  }
}
