// One write batch per request: drizzle queries and raw statements sent as a single IMMEDIATE transaction.
import type { Client, InStatement, ResultSet, Row } from "@libsql/client";

interface DrizzleQuery {
  toSQL(): { sql: string; params: unknown[] };
}
export type BatchStatement = InStatement | DrizzleQuery;

function toStatement(s: BatchStatement): InStatement {
  if (typeof s === "object" && "toSQL" in s) {
    const { sql, params } = s.toSQL();
    return { sql, args: params as InStatement extends { args?: infer A } ? A : never };
  }
  return typeof s === "string" ? s : onlyUsedNames(s);
}

/**
 * Statements of one batch often share an argument map; a remote server (sqld/Turso) refuses names a
 * statement does not use, so each statement is sent only the ones it names.
 */
function onlyUsedNames(s: Exclude<InStatement, string>): InStatement {
  const args = s.args;
  if (args === undefined || Array.isArray(args)) return s;
  const used = new Set(Array.from(s.sql.matchAll(/[:@$]([A-Za-z_][A-Za-z0-9_]*)/g), (m) => m[1]));
  return { sql: s.sql, args: Object.fromEntries(Object.entries(args).filter(([name]) => used.has(name))) };
}

/**
 * Runs statements atomically in one round trip. "write" mode begins IMMEDIATE, so the busy timeout
 * applies up front instead of a read transaction failing to upgrade under contention.
 */
export async function writeBatch(client: Client, statements: BatchStatement[]): Promise<ResultSet[]> {
  if (statements.length === 0) return [];
  return client.batch(statements.map(toStatement), "write");
}

export async function readBatch(client: Client, statements: BatchStatement[]): Promise<ResultSet[]> {
  if (statements.length === 0) return [];
  return client.batch(statements.map(toStatement), "read");
}

/** Whether an error is a constraint failure (unique key, placement guard trigger). */
export function isConstraintError(err: unknown): boolean {
  const code = (err as { code?: unknown; rawCode?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : "";
  return (typeof code === "string" && code.startsWith("SQLITE_CONSTRAINT")) || /constraint failed|placement refused/i.test(message);
}

/**
 * A column holding JSON, parsed. Hot reads return each row as one `json_array(...)`, or a whole result as
 * one `json_group_array(...)`: @libsql/client builds row objects column by column, which costs about ten
 * times as much as parsing the same values from one JSON text.
 */
export function jsonCell<T>(row: Row | undefined, column: string): T | undefined {
  const v = row?.[column];
  return typeof v === "string" ? (JSON.parse(v) as T) : undefined;
}
