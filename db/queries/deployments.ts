// Deployments' named statements: read with the state view, created with a job's version, changed only
// conditionally on their modify index (or, for the writes that come with a new version, on its guard).
import type { InStatement, ResultSet } from "@libsql/client";
import type { DeploymentStatus } from "../schema";

const marks = (n: number) => Array.from({ length: n }, () => "?").join(",");

export interface DeploymentRecord {
  id: string;
  jobId: string;
  namespace: string;
  version: number;
  fromVersion: number | null;
  status: DeploymentStatus;
  description: string;
  promoted: boolean;
  wave: string | null;
  wavesDone: string[];
  healthyCount: number;
  progressDeadlineAt: number | null;
  offlineSince: number | null;
  revertOf: string | null;
  /** A secret's new version that started it, if that is what did. */
  cause: { secret: string; version: number } | null;
  modifyIndex: number;
  createdAt: number;
  updatedAt: number;
}

export const DEPLOYMENT_COLUMNS =
  "d.id, d.job_id, d.namespace, d.version, d.from_version, d.status, d.description, d.promoted, d.wave, d.waves_done, d.healthy_count, d.progress_deadline_at, d.offline_since, d.revert_of, d.cause, d.modify_index, d.created_at, d.updated_at";

export function deploymentsOf(result: ResultSet | undefined): DeploymentRecord[] {
  return (result?.rows ?? []).map((r) => ({
    id: String(r["id"]),
    jobId: String(r["job_id"]),
    namespace: String(r["namespace"]),
    version: Number(r["version"]),
    fromVersion: r["from_version"] === null ? null : Number(r["from_version"]),
    status: String(r["status"]) as DeploymentStatus,
    description: String(r["description"]),
    promoted: Number(r["promoted"]) === 1,
    wave: r["wave"] === null ? null : String(r["wave"]),
    wavesDone: JSON.parse(String(r["waves_done"] ?? "[]")) as string[],
    healthyCount: Number(r["healthy_count"]),
    progressDeadlineAt: r["progress_deadline_at"] === null ? null : Number(r["progress_deadline_at"]),
    offlineSince: r["offline_since"] === null ? null : Number(r["offline_since"]),
    revertOf: r["revert_of"] === null ? null : String(r["revert_of"]),
    cause: r["cause"] === null || r["cause"] === undefined ? null : (JSON.parse(String(r["cause"])) as { secret: string; version: number }),
    modifyIndex: Number(r["modify_index"]),
    createdAt: Number(r["created_at"]),
    updatedAt: Number(r["updated_at"]),
  }));
}

/** Each job's newest deployment of its current version (oldest first; the caller keeps the last per job). */
export function currentDeploymentsStatement(jobIds: readonly string[]): InStatement {
  return {
    sql: `SELECT ${DEPLOYMENT_COLUMNS} FROM deployments d JOIN jobs j ON j.id = d.job_id AND j.version = d.version
          WHERE d.job_id IN (${marks(jobIds.length)}) ORDER BY d.created_at, d.id`,
    args: [...jobIds],
  };
}

/** The deployment of a new version, written only if `guard` holds (the version's own write took). */
export function insertDeployment(
  d: { id: string; jobId: string; namespace: string; version: number; fromVersion: number | null; promoted: boolean; revertOf: string | null; cause?: { secret: string; version: number } | null; progressDeadlineAt: number | null; description: string; now: number },
  guard: { sql: string; args: (string | number | null)[] },
): InStatement {
  return {
    sql: `INSERT INTO deployments (id, job_id, namespace, version, from_version, status, description, promoted, revert_of, cause, progress_deadline_at, created_at, updated_at)
          SELECT ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ? WHERE ${guard.sql}`,
    args: [d.id, d.jobId, d.namespace, d.version, d.fromVersion, d.description, d.promoted ? 1 : 0, d.revertOf, d.cause ? JSON.stringify(d.cause) : null, d.progressDeadlineAt, d.now, d.now, ...guard.args],
  };
}

/** Ends the job's running or paused deployments (a newer version, or the job stopped), if `guard` holds. */
export function cancelActiveDeployments(jobId: string, description: string, now: number, guard: { sql: string; args: (string | number | null)[] }): InStatement {
  return {
    sql: `UPDATE deployments SET status = 'cancelled', description = ?, modify_index = modify_index + 1, updated_at = ?
          WHERE job_id = ? AND status IN ('running', 'paused') AND ${guard.sql}`,
    args: [description, now, jobId, ...guard.args],
  };
}

export type DeploymentChange = Partial<Pick<DeploymentRecord, "status" | "description" | "promoted" | "wave" | "wavesDone" | "healthyCount" | "progressDeadlineAt" | "offlineSince">>;

const COLUMN: Record<keyof DeploymentChange, string> = {
  status: "status",
  description: "description",
  promoted: "promoted",
  wave: "wave",
  wavesDone: "waves_done",
  healthyCount: "healthy_count",
  progressDeadlineAt: "progress_deadline_at",
  offlineSince: "offline_since",
};

/** Changes a deployment if it is still at the modify index that was read (and, if given, in one of `from`). */
export function updateDeployment(id: string, modifyIndex: number, change: DeploymentChange, now: number, from?: readonly DeploymentStatus[]): InStatement {
  const sets: string[] = [];
  const args: (string | number | null)[] = [];
  for (const [key, value] of Object.entries(change) as [keyof DeploymentChange, unknown][]) {
    if (value === undefined) continue;
    sets.push(`${COLUMN[key]} = ?`);
    args.push(typeof value === "boolean" ? (value ? 1 : 0) : Array.isArray(value) ? JSON.stringify(value) : (value as string | number | null));
  }
  const status = from && from.length > 0 ? ` AND status IN (${from.map(() => "?").join(",")})` : "";
  return {
    sql: `UPDATE deployments SET ${[...sets, "modify_index = modify_index + 1", "updated_at = ?"].join(", ")} WHERE id = ? AND modify_index = ?${status}`,
    args: [...args, now, id, modifyIndex, ...(from ?? [])],
  };
}
