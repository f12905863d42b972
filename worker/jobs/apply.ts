// Applying a job spec: a new version only when the spec changed, written with optimistic concurrency.
import { and, eq } from "drizzle-orm";
import type { InStatement, ResultSet } from "@libsql/client";
import type { JobSpec } from "../../api/job-spec";
import { writeBatch, isConstraintError } from "../../db/batch";
import { jobs, jobVersions, namespaces, type JobRow } from "../../db/schema";
import type { Store } from "../../db/store";
import { requestGuardedEvaluation } from "../../db/queries/evaluations";
import { cancelActiveDeployments, insertDeployment } from "../../db/queries/deployments";
import { auditRow, eventRow, type Guard } from "../audit";
import { conflict, notFound } from "../errors";
import { canonicalJson, sha256Hex } from "../hash";
import { resolveSecretVersions, type SecretVersions } from "../secrets/versions";

export interface ApplyResult {
  job: JobRow;
  changed: boolean;
  /** Set when the change was to the count alone: no new version, no replica restarted. */
  scaled?: { from: number; to: number } | undefined;
  /** What the `take` statement returned, when the apply wrote a version. */
  taken?: ResultSet | undefined;
  /** The deployment that rolls out the new version (service jobs). */
  deploymentId?: string;
}

export const jobIdOf = (namespace: string, name: string) => `${namespace}/${name}`;

const MAX_ATTEMPTS = 5;

/** Takes the job's evaluation row in the same batch that writes it, if the write took (Broker.takeInBatch). */
export type TakeEvaluation = (jobId: string, guard: { sql: string; args: Record<string, string | number | null> }) => Promise<InStatement>;

/**
 * What makes a version: the spec without its count, and the secret versions it uses. Two specs that differ
 * only in replicas are one version; the same spec with a secret's newer version is another. Empty secret
 * and config lists are left out, so a job stored before they existed keeps its hash.
 */
export async function templateHash(spec: JobSpec, secretVersions?: SecretVersions | null): Promise<string> {
  return sha256Hex(
    canonicalJson({
      ...spec,
      replicas: undefined,
      secrets: spec.secrets?.length ? spec.secrets : undefined,
      config: spec.config?.length ? spec.config : undefined,
      secretVersions: secretVersions ?? undefined,
    }),
  );
}

/**
 * Stores `spec` as the job's desired state. Invariant: versions only rise and each is written once —
 * the (job, version) primary key and the `version = expected` update make a racing apply fail and retry.
 * A spec that changes only `replicas` of a running job is a scale: the version stays.
 */
export async function applyJob(
  store: Store,
  now: number,
  actor: string,
  given: JobSpec,
  take?: TakeEvaluation,
  opts: {
    /** Said of the new version in its event and audit row: "a rollback to version 2". */
    rollbackTo?: number;
    /** Apply only if the job is still at this version (0: only if it does not exist yet), as a plan saw it. */
    expectVersion?: number;
    /** The failed deployment this version reverts (auto-revert). */
    revertOf?: string;
    /** More statements for the version's batch, given the new version and its guard. */
    alsoWrite?: (version: number, guard: Guard) => InStatement[];
    /** Ids for new rows (the deployment); a simulation passes its seeded source. */
    newId?: () => string;
    /** Versions to use for secrets the spec follows (a rotation, a rollback); others resolve to the latest. */
    secretVersions?: SecretVersions;
    /** Why the version is written, when a secret's new version rolls it. */
    cause?: { secret: string; version: number };
    /**
     * Keep the running job's count as the write finds it, not `given.replicas` (a rollback, a revert or a
     * rotation writes a template, not a count: a scale that lands while it is under way must survive it).
     */
    keepCount?: boolean;
  } = {},
): Promise<ApplyResult> {
  const origin = opts.rollbackTo !== undefined ? { rollbackTo: opts.rollbackTo } : undefined;
  const id = jobIdOf(given.namespace, given.name);
  for (let attempt = 1; ; attempt++) {
    const [current] = await store.db.select().from(jobs).where(eq(jobs.id, id)).limit(1);
    // The count read in this attempt, so the write below (conditional on this read) cannot lose a scale.
    const spec: JobSpec = opts.keepCount && current?.status === "running" && current.replicas !== null ? { ...given, replicas: current.replicas } : given;
    // Resolved after the job is read, on every attempt: a version written by a racing rotation is seen.
    const secretVersions = await resolveSecretVersions(store.client, spec, opts.secretVersions);
    const specHash = await templateHash(spec, secretVersions);
    // Checked on every attempt: the write below is conditional on what this read saw, so a job changed in
    // between fails it, and the next attempt reads the new version.
    if (opts.expectVersion !== undefined && (current?.version ?? 0) !== opts.expectVersion) {
      throw conflict(current ? `job ${id} is at version ${current.version}, not ${opts.expectVersion}` : `job ${id} does not exist yet (expected version ${opts.expectVersion})`);
    }
    if (current && current.status === "running") {
      const { sameTemplate, replicas } = await compareWithCurrent(store, current, specHash);
      if (sameTemplate && replicas === spec.replicas) return { job: current, changed: false };
      if (sameTemplate) {
        const scaled = await writeScale(store, now, actor, current, replicas, spec.replicas, specHash, take);
        if (scaled) return scaled;
        if (attempt >= MAX_ATTEMPTS) throw conflict(`job ${id} is being changed concurrently; try again`);
        continue;
      }
    }
    if (!current) {
      const [ns] = await store.db.select({ name: namespaces.name }).from(namespaces).where(eq(namespaces.name, spec.namespace)).limit(1);
      if (!ns) throw notFound(`namespace "${spec.namespace}" does not exist`);
    }
    const version = (current?.version ?? 0) + 1;
    const row: JobRow = {
      id,
      namespace: spec.namespace,
      name: spec.name,
      type: spec.type,
      status: "running",
      version,
      replicas: spec.replicas,
      specHash,
      modifyIndex: (current?.modifyIndex ?? 0) + 1,
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
    };
    const { db } = store;
    const jobWrite = current
      ? db
          .update(jobs)
          .set({ type: row.type, status: "running", version, replicas: spec.replicas, specHash, modifyIndex: row.modifyIndex, updatedAt: now })
          .where(and(eq(jobs.id, id), eq(jobs.modifyIndex, current.modifyIndex)))
      : db.insert(jobs).values(row);
    // The version, audit and event rows are written only if our job write won: they are guarded on the
    // exact (version, modify_index, spec_hash) it set, which no racing writer with another spec can produce.
    const guard: Guard = {
      sql: "EXISTS (SELECT 1 FROM jobs WHERE id = ? AND version = ? AND modify_index = ? AND spec_hash = ?)",
      args: [id, version, row.modifyIndex, specHash],
    };
    // A service version is rolled out as a deployment; the one it supersedes ends. A version replacing a
    // stopped job has nothing running to roll from, so it is treated like a first version (no canaries).
    const fromVersion = current && current.status === "running" ? current.version : null;
    const deploymentId = (opts.newId ?? (() => crypto.randomUUID()))();
    const deploymentWrites: InStatement[] =
      spec.type === "service"
        ? [
            cancelActiveDeployments(id, `superseded by version ${version}`, now, guard),
            insertDeployment(
              {
                id: deploymentId,
                jobId: id,
                namespace: spec.namespace,
                version,
                fromVersion,
                promoted: fromVersion === null || spec.update.canary === 0,
                revertOf: opts.revertOf ?? null,
                cause: opts.cause ?? null,
                progressDeadlineAt: spec.update.progressDeadline > 0 ? now + spec.update.progressDeadline : null,
                description:
                  (fromVersion === null ? `placing version ${version}` : `rolling from version ${fromVersion} to ${version}`) +
                  (opts.cause ? ` for secret ${opts.cause.secret} version ${opts.cause.version}` : ""),
                now,
              },
              guard,
            ),
            eventRow(now, { type: "deployment.started", message: fromVersion === null ? `version ${version}` : `version ${fromVersion} to ${version}${opts.revertOf ? " (auto-revert)" : ""}${opts.cause ? ` (secret ${opts.cause.secret} version ${opts.cause.version})` : ""}`, namespace: spec.namespace, jobId: id, deploymentId }, guard),
          ]
        : [];
    try {
      const results = await writeBatch(store.client, [
        jobWrite,
        {
          sql: `INSERT INTO job_versions (job_id, version, spec, spec_hash, secret_versions, created_by, created_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE ${guard.sql}`,
          args: [id, version, JSON.stringify(spec), specHash, secretVersions ? JSON.stringify(secretVersions) : null, actor, now, ...guard.args],
        },
        auditRow(
          now,
          { actor, action: origin ? "job.rollback" : opts.cause ? "job.rotate" : "job.apply", namespace: spec.namespace, target: id, detail: { version, ...origin, ...(opts.cause ? { cause: opts.cause } : {}) } },
          guard,
        ),
        eventRow(
          now,
          {
            type: "job.version",
            message: origin
              ? `version ${version}, a rollback to version ${origin.rollbackTo}, applied by ${actor}`
              : opts.cause
                ? `version ${version} for secret ${opts.cause.secret} version ${opts.cause.version}, by ${actor}`
                : `version ${version} applied by ${actor}`,
            namespace: spec.namespace,
            jobId: id,
          },
          guard,
        ),
        // The evaluation, in the same batch as the version: a crash after this write leaves it to be run.
        requestGuardedEvaluation(id, guard, { trigger: "job-apply", now }),
        ...deploymentWrites,
        ...(opts.alsoWrite ? opts.alsoWrite(version, guard) : []),
        ...(take
          ? [await take(id, { sql: "EXISTS (SELECT 1 FROM jobs WHERE id = :gJob AND version = :gVersion AND modify_index = :gIndex AND spec_hash = :gHash)", args: { gJob: id, gVersion: version, gIndex: row.modifyIndex, gHash: specHash } })]
          : []),
      ]);
      if (results[0]?.rowsAffected === 1) return { job: row, changed: true, taken: take ? results[results.length - 1] : undefined, ...(spec.type === "service" ? { deploymentId } : {}) };
    } catch (err) {
      if (!isConstraintError(err)) throw err;
    }
    if (attempt >= MAX_ATTEMPTS) throw conflict(`job ${id} is being changed concurrently; try again`);
  }
}

/**
 * Whether the current version is the same template as `specHash`, and the job's count. A job written before
 * the count left the version has the count only in its spec, and a hash that covered it: both are read from
 * the stored spec then.
 */
async function compareWithCurrent(store: Store, current: JobRow, specHash: string): Promise<{ sameTemplate: boolean; replicas: number }> {
  if (current.specHash === specHash && current.replicas !== null) return { sameTemplate: true, replicas: current.replicas };
  const [stored] = await store.db
    .select({ spec: jobVersions.spec })
    .from(jobVersions)
    .where(and(eq(jobVersions.jobId, current.id), eq(jobVersions.version, current.version)))
    .limit(1);
  const spec = (stored?.spec as JobSpec | undefined) ?? null;
  return { sameTemplate: await sameTemplate(current, spec, specHash), replicas: current.replicas ?? spec?.replicas ?? 0 };
}

/** Whether `specHash` is the template of the job's current version (`stored`: that version's spec, if read). */
export async function sameTemplate(current: Pick<JobRow, "specHash" | "replicas">, stored: JobSpec | null, specHash: string): Promise<boolean> {
  if (current.specHash === specHash && current.replicas !== null) return true;
  if (stored === null) return false;
  return current.specHash === specHash || (await templateHash(stored)) === specHash;
}

/**
 * Changes a running job's count and nothing else: the version stays, so no replica is restarted; the
 * evaluation places the new slots or stops those at or above the count. Null when a racing write won.
 */
export async function writeScale(
  store: Store,
  now: number,
  actor: string,
  current: JobRow,
  from: number,
  to: number,
  specHash: string,
  take?: TakeEvaluation,
): Promise<ApplyResult | null> {
  const modifyIndex = current.modifyIndex + 1;
  const guard: Guard = { sql: "EXISTS (SELECT 1 FROM jobs WHERE id = ? AND modify_index = ? AND replicas = ?)", args: [current.id, modifyIndex, to] };
  const statements: InStatement[] = [
    {
      sql: "UPDATE jobs SET replicas = ?, spec_hash = ?, modify_index = ?, updated_at = ? WHERE id = ? AND modify_index = ? AND status = 'running'",
      args: [to, specHash, modifyIndex, now, current.id, current.modifyIndex],
    },
    auditRow(now, { actor, action: "job.scale", namespace: current.namespace, target: current.id, detail: { from, to, version: current.version } }, guard),
    eventRow(now, { type: "job.scale", message: `scaled from ${from} to ${to} by ${actor}`, namespace: current.namespace, jobId: current.id }, guard),
    requestGuardedEvaluation(current.id, guard, { trigger: "job-scale", now }),
  ];
  if (take) {
    statements.push(await take(current.id, { sql: "EXISTS (SELECT 1 FROM jobs WHERE id = :gJob AND modify_index = :gIndex AND replicas = :gReplicas)", args: { gJob: current.id, gIndex: modifyIndex, gReplicas: to } }));
  }
  const results = await writeBatch(store.client, statements);
  if (results[0]?.rowsAffected !== 1) return null;
  return { job: { ...current, replicas: to, specHash, modifyIndex, updatedAt: now }, changed: true, scaled: { from, to }, taken: results[4] };
}
