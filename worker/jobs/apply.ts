// Applying a job spec: a new version only when the spec changed, written with optimistic concurrency.
import { and, eq } from "drizzle-orm";
import type { InStatement, ResultSet } from "@libsql/client";
import type { JobSpec } from "../../api/job-spec";
import { writeBatch, isConstraintError } from "../../db/batch";
import { jobs, namespaces, type JobRow } from "../../db/schema";
import type { Store } from "../../db/store";
import { requestGuardedEvaluation } from "../../db/queries/evaluations";
import { auditRow, eventRow, type Guard } from "../audit";
import { conflict, notFound } from "../errors";
import { canonicalJson, sha256Hex } from "../hash";

export interface ApplyResult {
  job: JobRow;
  changed: boolean;
  /** What the `take` statement returned, when the apply wrote a version. */
  taken?: ResultSet | undefined;
}

export const jobIdOf = (namespace: string, name: string) => `${namespace}/${name}`;

const MAX_ATTEMPTS = 5;

/**
 * Stores `spec` as the job's desired state. Invariant: versions only rise and each is written once —
 * the (job, version) primary key and the `version = expected` update make a racing apply fail and retry.
 */
export async function applyJob(
  store: Store,
  now: number,
  actor: string,
  spec: JobSpec,
  /** Takes the job's evaluation row in the same batch that writes it, if the write took (Broker.takeInBatch). */
  take?: (jobId: string, guard: { sql: string; args: Record<string, string | number | null> }) => Promise<InStatement>,
): Promise<ApplyResult> {
  const id = jobIdOf(spec.namespace, spec.name);
  const specHash = await sha256Hex(canonicalJson(spec));
  for (let attempt = 1; ; attempt++) {
    const [current] = await store.db.select().from(jobs).where(eq(jobs.id, id)).limit(1);
    if (current && current.specHash === specHash && current.status === "running") {
      return { job: current, changed: false };
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
      specHash,
      modifyIndex: (current?.modifyIndex ?? 0) + 1,
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
    };
    const { db } = store;
    const jobWrite = current
      ? db
          .update(jobs)
          .set({ type: row.type, status: "running", version, specHash, modifyIndex: row.modifyIndex, updatedAt: now })
          .where(and(eq(jobs.id, id), eq(jobs.modifyIndex, current.modifyIndex)))
      : db.insert(jobs).values(row);
    // The version, audit and event rows are written only if our job write won: they are guarded on the
    // exact (version, modify_index, spec_hash) it set, which no racing writer with another spec can produce.
    const guard: Guard = {
      sql: "EXISTS (SELECT 1 FROM jobs WHERE id = ? AND version = ? AND modify_index = ? AND spec_hash = ?)",
      args: [id, version, row.modifyIndex, specHash],
    };
    try {
      const results = await writeBatch(store.client, [
        jobWrite,
        {
          sql: `INSERT INTO job_versions (job_id, version, spec, spec_hash, created_by, created_at) SELECT ?, ?, ?, ?, ?, ? WHERE ${guard.sql}`,
          args: [id, version, JSON.stringify(spec), specHash, actor, now, ...guard.args],
        },
        auditRow(now, { actor, action: "job.apply", namespace: spec.namespace, target: id, detail: { version } }, guard),
        eventRow(now, { type: "job.version", message: `version ${version} applied by ${actor}`, namespace: spec.namespace, jobId: id }, guard),
        // The evaluation, in the same batch as the version: a crash after this write leaves it to be run.
        requestGuardedEvaluation(id, guard, { trigger: "job-apply", now }),
        ...(take
          ? [await take(id, { sql: "EXISTS (SELECT 1 FROM jobs WHERE id = :gJob AND version = :gVersion AND modify_index = :gIndex AND spec_hash = :gHash)", args: { gJob: id, gVersion: version, gIndex: row.modifyIndex, gHash: specHash } })]
          : []),
      ]);
      if (results[0]?.rowsAffected === 1) return { job: row, changed: true, taken: results[5] };
    } catch (err) {
      if (!isConstraintError(err)) throw err;
    }
    if (attempt >= MAX_ATTEMPTS) throw conflict(`job ${id} is being changed concurrently; try again`);
  }
}
