// Following a server-sent event stream with fetch (the Authorization header rules out EventSource): parsed
// by api/sse.ts, reconnected after any error or end with capped exponential backoff and jitter, resuming from
// the last id it saw through Last-Event-ID. A 404 means the control plane has no such stream (the caller
// falls back to polling); 401 and 403 are final. Everything stops when the signal aborts.
import { ApiError, type ApiClient } from "./api/client";
import { SseParser, type SseMessage } from "../../api/sse";

export type StreamState =
  | { kind: "connecting" }
  | { kind: "open" }
  | { kind: "retrying"; inMs: number; reason: string }
  | { kind: "unsupported" }
  | { kind: "refused"; error: ApiError };

export interface FollowOptions {
  client: Pick<ApiClient, "open">;
  /** The stream's path and query, or one per attempt (a log follow asks for no tail again once it has one). */
  path: string | ((attempt: number) => string);
  /** Resume after this id (the last one a backlog read gave). */
  lastEventId?: string;
  onMessage(message: SseMessage): void;
  onState?(state: StreamState): void;
  signal: AbortSignal;
  /** First and largest wait between attempts (default 1 s and 30 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** Jitter source, for tests: a number in [0, 1). */
  random?: () => number;
}

/** A connection that stayed up this long proves the server healthy: the next wait starts small again. */
const HEALTHY_MS = 10_000;

export async function followStream(opts: FollowOptions): Promise<void> {
  const { initialMs, maxMs } = opts.backoff ?? { initialMs: 1_000, maxMs: 30_000 };
  const random = opts.random ?? Math.random;
  let lastId = opts.lastEventId ?? "";
  let wait = initialMs;
  for (let attempt = 0; !opts.signal.aborted; attempt++) {
    opts.onState?.({ kind: "connecting" });
    let reason = "the stream ended";
    const openedAt = Date.now();
    let delivered = false;
    let retryHint: number | null = null;
    try {
      const path = typeof opts.path === "string" ? opts.path : opts.path(attempt);
      const res = await opts.client.open(path, { signal: opts.signal, headers: lastId ? { "last-event-id": lastId } : {} });
      if (!res.body) throw new Error("the answer has no body");
      opts.onState?.({ kind: "open" });
      const parser = new SseParser();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const message of parser.push(value)) {
            if (message.id) lastId = message.id;
            delivered = true;
            opts.onMessage(message);
          }
        }
      } finally {
        reader.cancel().catch(() => undefined);
      }
      retryHint = parser.retry;
    } catch (err) {
      if (opts.signal.aborted) return;
      if (err instanceof ApiError && err.status === 404) return opts.onState?.({ kind: "unsupported" });
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return opts.onState?.({ kind: "refused", error: err });
      reason = err instanceof Error ? err.message : String(err);
    }
    if (opts.signal.aborted) return;
    if (delivered || Date.now() - openedAt >= HEALTHY_MS) wait = initialMs;
    if (retryHint !== null) wait = Math.min(Math.max(retryHint, 100), maxMs);
    // Half fixed, half random: many tabs reconnecting after one restart spread out.
    const inMs = Math.round(wait / 2 + (random() * wait) / 2);
    opts.onState?.({ kind: "retrying", inMs, reason });
    await sleep(inMs, opts.signal);
    wait = Math.min(wait * 2, maxMs);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
