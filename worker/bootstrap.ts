// First start: the default namespace and one admin token, issued exactly once even when several
// instances start together (the insert that wins prints it; the others find it taken).
import type { Store } from "../db/store";
import { writeBatch } from "../db/batch";
import { auditRow, CHANGED } from "./audit";
import type { SigningKeys } from "./auth/keys";
import { newOperatorToken } from "./auth/operator-tokens";
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
