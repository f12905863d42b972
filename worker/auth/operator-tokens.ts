// Operator tokens as issued and recorded: a signed JWT plus its api_tokens row (revocation is by row).
import { writeBatch } from "../../db/batch";
import { apiTokens } from "../../db/schema";
import type { Store } from "../../db/store";
import type { Clock } from "../clock";
import type { SigningKeys } from "./keys";
import type { Permission, RoleGrants } from "./roles";
import { issueOperatorToken } from "./tokens";

export type ApiTokenRow = typeof apiTokens.$inferSelect;

/** A new token and the row that makes it valid; the caller writes the row (with its audit, in one batch). */
export async function newOperatorToken(
  keys: SigningKeys,
  clock: Clock,
  opts: { subject: string; roles: RoleGrants; ttlMs: number; createdBy: string; permissions?: Permission[] | undefined },
): Promise<{ token: string; row: ApiTokenRow }> {
  const now = clock.now();
  const id = crypto.randomUUID();
  const token = await issueOperatorToken(keys, clock, { subject: opts.subject, tokenId: id, roles: opts.roles, ttlMs: opts.ttlMs, permissions: opts.permissions });
  const permissions = opts.permissions && opts.permissions.length > 0 ? opts.permissions : null;
  return { token, row: { id, subject: opts.subject, roles: opts.roles, permissions, expiresAt: now + opts.ttlMs, revokedAt: null, createdBy: opts.createdBy, createdAt: now } };
}

/** Issues and records a token in one step (tests and tooling; the API writes an audit row alongside). */
export async function recordOperatorToken(store: Store, keys: SigningKeys, clock: Clock, opts: Parameters<typeof newOperatorToken>[2]): Promise<string> {
  const { token, row } = await newOperatorToken(keys, clock, opts);
  await writeBatch(store.client, [store.db.insert(apiTokens).values(row)]);
  return token;
}
