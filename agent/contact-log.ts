// Says once that the control plane cannot be reached and once that it answers again, however many
// requests (heartbeat, claim, enrollment) fail in between: each failure after the first is debug only.
import type { Logger } from "./log";
import { errorText } from "./log";

export interface ContactLog {
  /** A request could not reach the control plane (network error, timeout, 5xx). */
  unreachable(err: unknown, fields?: Record<string, unknown>): void;
  /** The control plane answered. */
  reached(): void;
}

export function createContactLog(log: Logger, now: () => number = Date.now): ContactLog {
  let lostAt: number | null = null;
  return {
    unreachable(err, fields) {
      if (lostAt !== null) {
        log.debug("control plane still unreachable", { error: errorText(err), ...fields });
        return;
      }
      lostAt = now();
      log.warn(`control plane unreachable since ${new Date(lostAt).toISOString()}`, { error: errorText(err), ...fields });
    },
    reached() {
      if (lostAt === null) return;
      const downMs = now() - lostAt;
      lostAt = null;
      log.info(`reconnected after ${formatDuration(downMs)}`, { downMs });
    },
  };
}

function formatDuration(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  const s = Math.round(ms / 1_000);
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 120 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}
