// Reading the fleet's events by index. Ids come from one AUTOINCREMENT and SQLite commits one writer at a
// time, so an event committed after a reader saw index N always has an id above N: reading "id > N" in
// order misses nothing and repeats nothing, whichever instance wrote or reads.
import { and, asc, desc, eq, gt, inArray, max, or, sql, type SQL } from "drizzle-orm";
import { events } from "../schema";
import type { Db } from "../store";

export interface EventFilter {
  namespace?: string;
  /** A job id (namespace/name). */
  jobId?: string;
  types?: { exact: string[]; prefixes: string[] };
}

export type EventRecord = typeof events.$inferSelect;

function conditions(filter: EventFilter): SQL[] {
  const where: SQL[] = [];
  if (filter.jobId !== undefined) where.push(eq(events.jobId, filter.jobId));
  else if (filter.namespace !== undefined) where.push(eq(events.namespace, filter.namespace));
  const types = filter.types;
  if (types && types.exact.length + types.prefixes.length > 0) {
    const any: SQL[] = [];
    if (types.exact.length > 0) any.push(inArray(events.type, types.exact));
    for (const p of types.prefixes) any.push(sql`substr(${events.type}, 1, ${p.length}) = ${p}`);
    where.push(or(...any)!);
  }
  return where;
}

/** The events after `index`, oldest first; at most `limit`. */
export async function readEventsAfter(db: Db, filter: EventFilter, index: number, limit: number): Promise<EventRecord[]> {
  return db
    .select()
    .from(events)
    .where(and(gt(events.id, index), ...conditions(filter)))
    .orderBy(asc(events.id))
    .limit(limit);
}

/** The newest `limit` events, oldest first. */
export async function readNewestEvents(db: Db, filter: EventFilter, limit: number): Promise<EventRecord[]> {
  const rows = await db
    .select()
    .from(events)
    .where(and(...conditions(filter)))
    .orderBy(desc(events.id))
    .limit(limit);
  return rows.reverse();
}

/** The highest event id of all (0 with none): a stream that starts "from now" starts after it. */
export async function currentEventIndex(db: Db): Promise<number> {
  const [row] = await db.select({ index: max(events.id) }).from(events);
  return row?.index ?? 0;
}
