// A job's plan: what applying a spec would do — create, scale, a new version or nothing — with the field
// diff and where its slots would go, found by running the pure scheduler on the state view with the job
// swapped for the one the spec describes. Invariant: it only reads; nothing it does is written anywhere.
import { and, eq } from "drizzle-orm";
import type { PlanChange, PlanResponse } from "../../api/job-plan";
import type { JobSpec } from "../../api/job-spec";
import { diffSpecs } from "../../api/spec-diff";
import { jobs, jobVersions, namespaces, type JobRow } from "../../db/schema";
import type { ResolvedDeps } from "../context";
import { jobView, loadView } from "../evaluation/state-view";
import { notFound } from "../errors";
import type { Timing } from "../leases/timing";
import { schedule, type JobView } from "../scheduler";
import { jobIdOf, sameTemplate, templateHash } from "./apply";
import { summarisePlan } from "./plan-summary";
import { resolveSecretVersions, type SecretVersions } from "../secrets/versions";

export async function planJob(deps: ResolvedDeps, timing: Timing, spec: JobSpec): Promise<PlanResponse> {
  const id = jobIdOf(spec.namespace, spec.name);
  const { db } = deps.store;
  const [jobRows, namespaceRows] = await db.batch([
    db
      .select({ job: jobs, spec: jobVersions.spec, secretVersions: jobVersions.secretVersions })
      .from(jobs)
      .leftJoin(jobVersions, and(eq(jobVersions.jobId, jobs.id), eq(jobVersions.version, jobs.version)))
      .where(eq(jobs.id, id))
      .limit(1),
    db.select({ name: namespaces.name }).from(namespaces).where(eq(namespaces.name, spec.namespace)).limit(1),
  ]);
  const current = jobRows[0]?.job ?? null;
  // Apply refuses a new job in a namespace that does not exist; so does its plan.
  if (!current && namespaceRows.length === 0) throw notFound(`namespace "${spec.namespace}" does not exist`);
  const stored = (jobRows[0]?.spec ?? null) as JobSpec | null;
  const currentReplicas = current ? (current.replicas ?? stored?.replicas ?? 0) : 0;
  // Resolved as the apply would: a secret's version not yet rolled to the job shows as a new version.
  const secretVersions = await resolveSecretVersions(deps.store.client, spec);
  const storedSecretVersions = jobRows[0]?.secretVersions ?? null;
  const change = await applyWouldDo(spec, secretVersions, current, stored, currentReplicas);
  // A new version is the next number; a scale or no change keeps the one there is.
  const version = change === "create" || change === "version" ? (current?.version ?? 0) + 1 : (current?.version ?? 0);

  // The running spec as GET .../jobs/{name} shows it (its version's template with the job's count), and the
  // file's as it would be stored (JSON: absent optional fields are absent, not undefined).
  const running = current && stored ? { ...stored, replicas: currentReplicas, ...(storedSecretVersions ? { secretVersions: storedSecretVersions } : {}) } : {};
  // Empty secret and config lists are left out on both sides, as the version's hash leaves them out.
  const bare = (s: object) => ({ ...s, secrets: undefined, config: undefined });
  const shown = (s: JobSpec) => ({ ...bare(s), ...(s.secrets?.length ? { secrets: s.secrets } : {}), ...(s.config?.length ? { config: s.config } : {}) });
  const diff = diffSpecs(
    JSON.parse(JSON.stringify(current && stored ? { ...shown(running as JobSpec) } : running)) as unknown,
    JSON.parse(JSON.stringify({ ...shown(spec), ...(secretVersions ? { secretVersions } : {}) })) as unknown,
  );

  // A second read: a job changed in between gives a plan of two moments, which the guarded apply it
  // suggests (checkVersion = the version read above) refuses to act on.
  const view = await loadView(deps, [id], `plan:${id}`, timing);
  const job = hypotheticalJob(id, spec, version);
  const plan = schedule({ evalId: view.evalId, now: view.now, jobs: [job], nodes: view.nodes, tasks: view.tasks });
  return {
    jobId: id,
    change,
    current: current ? { version: current.version, replicas: currentReplicas, status: current.status } : null,
    version,
    replicas: spec.replicas,
    diff,
    ...summarisePlan(job, view.tasks, view.nodes, plan),
  };
}

/**
 * What applyJob would do with `spec`, by its rules: a stopped job always gets a new version; a running
 * one whose template is unchanged is left alone or scaled; anything else is a new version. A job written
 * before the count left the version has a hash over its whole spec: its stored spec is hashed again then.
 */
async function applyWouldDo(spec: JobSpec, secretVersions: SecretVersions | null, current: JobRow | null, stored: JobSpec | null, currentReplicas: number): Promise<PlanChange> {
  if (!current) return "create";
  if (current.status !== "running") return "version";
  if (!(await sameTemplate(current, stored, await templateHash(spec, secretVersions)))) return "version";
  return currentReplicas === spec.replicas ? "none" : "scale";
}

/**
 * The job as the scheduler would see it once applied (as the state view builds it from a stored spec),
 * with one difference: its update parallelism is its whole count, so the plan is the rollout's end state
 * rather than its first step.
 */
function hypotheticalJob(id: string, spec: JobSpec, version: number): JobView {
  const job = jobView({ id, namespace: spec.namespace, name: spec.name, status: "running", version, replicas: spec.replicas, spec });
  return { ...job, update: { ...job.update, parallelism: Number.MAX_SAFE_INTEGER } };
}
