// First start: the default namespace and one admin token, issued exactly once even when several
// instances start together (the insert that wins prints it; the others find it taken). Node calls it
// only once the server listens, so a start that fails earlier records no token that nobody was shown.
// An operator who lost the token mints another from the data dir: `leasehold token create --admin`.
import { writeBatch } from "../db/batch";
import { apiTokens } from "../db/schema";
import type { Store } from "../db/store";
import { auditRow, CHANGED } from "./audit";
import type { SigningKeys } from "./auth/keys";
import { newOperatorToken, type ApiTokenRow } from "./auth/operator-tokens";
import type { Clock } from "./clock";

export const BOOTSTRAP_SUBJECT = "bootstrap-admin";

/** Returns the admin token if this call created it, or null if an earlier start already did. */
export async function bootstrap(store: Store, keys: SigningKeys, clock: Clock, tokenTtlMs: number): Promise<string | null> {
  const now = clock.now();
  const { token, row } = await newOperatorToken(keys, clock, { subject: BOOTSTRAP_SUBJECT, roles: { "*": "admin" }, ttlMs: tokenTtlMs, createdBy: "bootstrap" });
  const results = await writeBatch(store.client, [
    { sql: "INSERT INTO namespaces (name, description, created_at) VALUES ('default', 'The default namespace', ?) ON CONFLICT DO NOTHING", args: [now] },
    {
      sql: `INSERT INTO api_tokens (id, subject, roles, expires_at, created_by, created_at)
            SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM api_tokens WHERE created_by = 'bootstrap')`,
      args: [row.id, row.subject, JSON.stringify(row.roles), row.expiresAt, row.createdBy, row.createdAt],
    },
    auditRow(now, { actor: "bootstrap", action: "token.issue", target: row.id, detail: { subject: BOOTSTRAP_SUBJECT } }, CHANGED),
  ]);
  return results[1]?.rowsAffected === 1 ? token : null;
}

/**
 * An admin token minted by whoever holds the data dir (its signing key and database): the way back in when
 * the bootstrap token was lost. Recorded and audited like one POST /v1/tokens issues.
 */
export async function issueDataDirAdminToken(
  store: Store,
  keys: SigningKeys,
  clock: Clock,
  opts: { subject: string; ttlMs: number; actor: string },
): Promise<{ token: string; row: ApiTokenRow }> {
  const roles = { "*": "admin" } as const;
  const { token, row } = await newOperatorToken(keys, clock, { subject: opts.subject, roles, ttlMs: opts.ttlMs, createdBy: opts.actor });
  await writeBatch(store.client, [
    store.db.insert(apiTokens).values(row),
    auditRow(row.createdAt, { actor: opts.actor, action: "token.issue", target: row.id, detail: { subject: opts.subject, roles, via: "data-dir" } }),
  ]);
  return { token, row };
}
