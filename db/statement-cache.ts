// Prepared statements kept per connection of the embedded engine (Node, file databases).
//
// @libsql/client prepares every statement anew on each call. Our hot statements are long (heartbeat and
// claim batches read their reports out of JSON), and an UPDATE or INSERT on tasks compiles the placement
// guard triggers with it; preparing them took 39 of 204 CPU-seconds of the control plane in a C1M run,
// more than executing them. The client reaches the engine only through `Database#prepare`, and runs each
// statement to completion before it returns, so handing it back the same statement for the same text is
// safe: the engine resets a statement before each run, and recompiles it by itself after a schema change.
// What it does not redo is the list of result columns the binding read when preparing: a `SELECT *` kept
// across an ALTER TABLE would name fewer columns than its rows carry. Such statements (a `*` other than in
// `count(*)`) are not kept, and a connection that runs DDL drops what it kept.
import Database from "libsql";

/** Distinct statement texts kept per connection; statements with IN lists of varying length come and go. */
export const STATEMENTS_PER_CONNECTION = 500;

type Prepare = (this: object, sql: string) => unknown;
type Close = (this: object) => unknown;

const caches = new WeakMap<object, Map<string, unknown>>();
/** A `*` that expands to columns (not the one of `count(*)`): its result columns depend on the schema. */
const EXPANDS_COLUMNS = /(^|[^(])\*/;
const DDL = /^\s*(CREATE|ALTER|DROP)\b/i;
let installed = false;

/** Makes every connection of the embedded engine keep its prepared statements (least recently used out). */
export function cachePreparedStatements(): void {
  if (installed) return;
  installed = true;
  const proto = (Database as unknown as { prototype: { prepare: Prepare; close: Close } }).prototype;
  const prepare = proto.prepare;
  const close = proto.close;
  proto.prepare = function cachedPrepare(sql: string) {
    if (DDL.test(sql)) {
      caches.delete(this);
      return prepare.call(this, sql);
    }
    if (EXPANDS_COLUMNS.test(sql)) return prepare.call(this, sql);
    let cache = caches.get(this);
    if (!cache) caches.set(this, (cache = new Map()));
    const hit = cache.get(sql);
    if (hit !== undefined) {
      cache.delete(sql);
      cache.set(sql, hit);
      return hit;
    }
    // A statement that fails to prepare throws here and is not kept.
    const statement = rememberRawRefusal(prepare.call(this, sql) as RawToggle);
    cache.set(sql, statement);
    if (cache.size > STATEMENTS_PER_CONNECTION) cache.delete(cache.keys().next().value as string);
    return statement;
  };
  proto.close = function cachedClose() {
    caches.delete(this);
    return close.call(this);
  };
}

type RawToggle = { raw(toggle?: boolean): unknown };

/**
 * The client asks every statement for raw rows and takes a throw to mean it returns none (an INSERT or
 * UPDATE without RETURNING). The engine builds a new error each time, which cost 3 % of the control plane's
 * CPU in a C1M run; a kept statement answers the same way every time, so its first answer is kept too.
 */
function rememberRawRefusal(statement: RawToggle): RawToggle {
  const raw = statement.raw;
  let refusal: unknown = null;
  statement.raw = function rememberedRaw(toggle?: boolean) {
    if (refusal !== null) throw refusal;
    try {
      return raw.call(this, toggle);
    } catch (err) {
      refusal = err;
      throw err;
    }
  };
  return statement;
}

/** How many statements a connection keeps (for tests). */
export function cachedStatements(connection: object): number {
  return caches.get(connection)?.size ?? 0;
}
