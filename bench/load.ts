// The load generator: autocannon at full speed or at a fixed rate, and a search for the highest rate whose p99 stays under a bound.
import autocannon from "autocannon";
import type { IncomingHttpHeaders } from "node:http";

export interface LoadResult {
  /** Target rate (requests/s), or 0 when unbounded. */
  targetRate: number;
  connections: number;
  /** Completed 2xx responses per second. */
  rps: number;
  ok: number;
  p50: number;
  p99: number;
  /** Non-2xx responses plus connection errors and timeouts. */
  failures: number;
  durationSec: number;
}

export interface OneRequest {
  method: "GET" | "POST";
  path: string;
  headers: IncomingHttpHeaders;
  body?: string;
}

export interface LoadOptions {
  url: string;
  durationSec: number;
  connections: number;
  /** Requests per second across all connections; omit to go as fast as the server answers. */
  rate?: number;
  /** Each call yields the next request (e.g. the next agent's heartbeat). Omit for GET /. */
  next?: () => OneRequest;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const next = opts.next;
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.durationSec,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
    timeout: 10,
    ...(next
      ? {
          requests: [
            {
              setupRequest: (request: autocannon.Request): autocannon.Request => {
                const r = next();
                return { ...request, method: r.method, path: r.path, headers: r.headers, body: r.body };
              },
            },
          ],
        }
      : {}),
  });
  const ok = result["2xx"];
  return {
    targetRate: opts.rate ?? 0,
    connections: opts.connections,
    rps: ok / result.duration,
    ok,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
    durationSec: result.duration,
  };
}

export interface RateSearch {
  /** The best step: the highest throughput with p99 under the bound and no failures. */
  best: LoadResult | null;
  steps: LoadResult[];
}

/**
 * Finds the highest throughput whose p99 stays under a bound by stepping the number of connections
 * (closed loop: each connection sends its next request when the previous one is answered): 1, 2, 4, …
 * until p99 crosses the bound, a request fails, or `maxConnections` is passed.
 *
 * Why not autocannon's `overallRate`: it lets each connection send its share of a second back to back and
 * then pause until the next second, so a "fixed rate" is a burst per second whose latency measures the
 * burst's queue; and its coordinated-omission correction assumes an interval of ceil(1/rate) = 1 ms.
 * Stepping concurrency gives a rate and a latency that mean what they say.
 */
export async function searchRate(
  opts: Omit<LoadOptions, "rate" | "connections"> & { maxConnections: number; p99BoundMs: number },
  around?: { before(): Promise<void>; after(step: LoadResult, connections: number): Promise<void> },
): Promise<RateSearch> {
  const steps: LoadResult[] = [];
  let best: LoadResult | null = null;
  for (let connections = 1; connections <= opts.maxConnections; connections *= 2) {
    await around?.before();
    const r = await runLoad({ ...opts, connections });
    await around?.after(r, connections);
    steps.push(r);
    if (r.p99 >= opts.p99BoundMs || r.failures > 0) break;
    if (!best || r.rps > best.rps) best = r;
  }
  return { best, steps };
}
