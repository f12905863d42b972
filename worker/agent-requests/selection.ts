// Which lines a tail or a follow reads, from an operator's options: the same rules for both.
import { DEFAULT_TAIL_LINES, MAX_TAIL_LINES, type LogSelection, type LogStream } from "../../api/agent-requests";
import { parseDuration } from "../../api/duration";
import { badRequest } from "../errors";

/** The most a since may reach back. */
const MAX_SINCE_MS = 30 * 24 * 3_600_000;

/**
 * A tail of `tail` lines; without one, every line of the `since` window (up to MAX_TAIL_LINES), as
 * `docker logs --since` shows them, or the last DEFAULT_TAIL_LINES when neither is given.
 */
export function logSelection(o: { tail?: number | undefined; sinceMs?: number | undefined; timestamps?: boolean | undefined; stream?: LogStream | undefined }): LogSelection {
  const tail = o.tail ?? (o.sinceMs !== undefined ? MAX_TAIL_LINES : DEFAULT_TAIL_LINES);
  return { tail, ...(o.sinceMs !== undefined ? { sinceMs: o.sinceMs } : {}), ...(o.timestamps ? { timestamps: true } : {}), ...(o.stream ? { stream: o.stream } : {}) };
}

/** A since given as a duration ("5m") or as whole milliseconds ("300000"): how far back from now. */
export function parseSince(text: string | undefined, path: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = /^\d{1,13}$/.test(text) ? Number(text) : parseDuration(text);
  if (ms === null || ms <= 0 || ms > MAX_SINCE_MS) {
    const message = "must be a duration (90s, 5m, 2h) or a number of milliseconds, at most 30 days";
    throw badRequest(`${path}: ${message}`, [{ path, message }]);
  }
  return ms;
}

/** A query flag: 1 or true. */
export const isOn = (flag: string | undefined) => flag === "1" || flag === "true";
