// Which secret versions a job version uses: the pinned ones, and the latest of those it follows, resolved
// when the version is written. They are part of the version's template hash, so a secret's new version,
// rolled to a job, is a new job version rolled out like any other change.
import type { Client } from "@libsql/client";
import { secretsUsed, type JobSpec } from "../../api/job-spec";
import { jsonCell } from "../../db/batch";
import { badRequest } from "../errors";

export type SecretVersions = Record<string, number>;

/**
 * Resolves every secret `spec` reads to a version: its pin, else `follow[name]` when given (a rotation
 * names the version it rolls to), else the latest stored. Null when the spec reads none. A secret or
 * pinned version that does not exist is a 400 naming the field.
 */
export async function resolveSecretVersions(client: Client, spec: JobSpec, follow: SecretVersions = {}): Promise<SecretVersions | null> {
  const used = secretsUsed(spec);
  if (used.size === 0) return null;
  const rows = await client.execute({
    sql: `SELECT json_group_object(name, json(versions)) AS v FROM (
            SELECT name, json_group_array(version) AS versions FROM secrets
            WHERE namespace = ? AND name IN (SELECT value FROM json_each(?)) GROUP BY name)`,
    args: [spec.namespace, JSON.stringify([...used.keys()])],
  });
  const stored = jsonCell<Record<string, number[]>>(rows.rows[0], "v") ?? {};
  const resolved: SecretVersions = {};
  const problems: { path: string; message: string }[] = [];
  for (const [name, pin] of used) {
    const versions = stored[name] ?? [];
    const path = fieldOf(spec, name);
    if (versions.length === 0) {
      problems.push({ path, message: `there is no secret "${name}" in namespace ${spec.namespace}` });
      continue;
    }
    const wanted = pin ?? follow[name];
    if (wanted !== undefined && !versions.includes(wanted)) {
      problems.push({ path, message: `secret "${name}" has no version ${wanted} (it has ${versions.sort((a, b) => a - b).join(", ")})` });
      continue;
    }
    resolved[name] = wanted ?? Math.max(...versions);
  }
  if (problems.length > 0) throw badRequest(problems.map((p) => `${p.path}: ${p.message}`).join("; "), problems);
  return resolved;
}

/** Where in the spec a secret is named first, for the error's field path. */
function fieldOf(spec: JobSpec, name: string): string {
  const i = (spec.secrets ?? []).findIndex((s) => s.name === name);
  if (i >= 0) return `secrets.${i}.name`;
  const j = (spec.config ?? []).findIndex((f) => f.content.includes(`"${name}"`));
  return j >= 0 ? `config.${j}.content` : "secrets";
}

/** Whether the spec follows the latest of `name` (reads it without a pin). */
export function followsLatest(spec: JobSpec, name: string): boolean {
  const used = secretsUsed(spec);
  return used.has(name) && used.get(name) === undefined;
}
