// Reading the audit trail: one page, newest first by (at, id), strictly after a position. Paging by
// position rather than OFFSET keeps pages stable while rows are written: no row moves, so none repeats
// or is skipped. A row written meanwhile sorts before the position (its time is no earlier), unless an
// instance's clock lags; then it shows up in a later page, once.
import { and, desc, eq, gte, lt, sql, type SQL } from "drizzle-orm";
import { audit } from "../schema";
import type { Db } from "../store";

export interface AuditFilter {
  namespace?: string;
  actor?: string;
  /** One action, or (ending in ".") every action under it. */
  action?: string;
  /** Inclusive, in milliseconds. */
  since?: number;
  /** Exclusive, in milliseconds. */
  until?: number;
}

/** Where a page ended: the last entry's time and id. */
export interface AuditPosition {
  at: number;
  id: number;
}

export type AuditRecord = typeof audit.$inferSelect;

export async function readAuditPage(db: Db, filter: AuditFilter, after: AuditPosition | null, limit: number): Promise<{ entries: AuditRecord[]; more: boolean }> {
  const where: SQL[] = [];
  if (filter.namespace !== undefined) where.push(eq(audit.namespace, filter.namespace));
  if (filter.actor !== undefined) where.push(eq(audit.actor, filter.actor));
  if (filter.action?.endsWith(".")) where.push(sql`substr(${audit.action}, 1, ${filter.action.length}) = ${filter.action}`);
  else if (filter.action !== undefined) where.push(eq(audit.action, filter.action));
  if (filter.since !== undefined) where.push(gte(audit.at, filter.since));
  if (filter.until !== undefined) where.push(lt(audit.at, filter.until));
  // A row value, so SQLite can seek the (…, at) index to the position instead of scanning to it.
  if (after) where.push(sql`(${audit.at}, ${audit.id}) < (${after.at}, ${after.id})`);
  const rows = await db
    .select()
    .from(audit)
    .where(and(...where))
    .orderBy(desc(audit.at), desc(audit.id))
    .limit(limit + 1);
  return { entries: rows.slice(0, limit), more: rows.length > limit };
}
