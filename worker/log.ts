// The control plane's default log: one JSON line per entry, leveled, with no dependency (it runs on Workers).
import type { LogFields, Logger, LogLevel } from "./context";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Longest string a field keeps: a log line stays one bounded line whatever a value holds. */
const MAX_FIELD_CHARS = 512;

/**
 * A Logger writing `{"level","message",...fields}` lines. The level and message always win over fields of
 * the same name, and every value is JSON-escaped, so a field carrying client text cannot forge a line.
 */
export function createJsonLogger(opts: { minLevel?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const min = RANK[opts.minLevel ?? "info"];
  const write = opts.write ?? ((line: string) => console.error(line));
  return function log(message: string, fields: LogFields = {}, level: LogLevel = "error"): void {
    if (RANK[level] < min) return;
    const entry: Record<string, unknown> = { level, message };
    for (const [key, value] of Object.entries(fields)) {
      if (key in entry) continue;
      entry[key] = typeof value === "string" && value.length > MAX_FIELD_CHARS ? `${value.slice(0, MAX_FIELD_CHARS)}…` : value;
    }
    write(JSON.stringify(entry));
  };
}
