// The store's clock: the highest instance clock written to it, kept in cluster_state under 'clock'.
import type { InStatement, ResultSet } from "@libsql/client";

/** Raises the store's clock to `local` (an instance's own reading) and returns the store's clock. */
export function raiseStoreClock(local: number): InStatement {
  return {
    sql: `INSERT INTO cluster_state (key, value) VALUES ('clock', :clockLocal)
          ON CONFLICT (key) DO UPDATE SET value = max(cluster_state.value, excluded.value) RETURNING value AS clock`,
    args: { clockLocal: local },
  };
}

/** Reads the store's clock without raising it (for read-only batches). */
export const readStoreClock: InStatement = { sql: "SELECT value AS clock FROM cluster_state WHERE key = 'clock'", args: [] };

export function storeClockOf(result: ResultSet | undefined): number | null {
  const v = result?.rows[0]?.["clock"];
  return v === undefined || v === null ? null : Number(v);
}
