// Child process for the benchmarks: one Node control plane over a file DB, plus a stats endpoint (CPU, RSS, DB calls).
// Usage: node --import tsx bench/control-plane-server.ts '<json options>'   → prints one JSON line with its URLs.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Client } from "@libsql/client";
import { parseConfig, type ConfigInput } from "../worker/config";
import { startNodeServer } from "../worker/node";

export interface ControlPlaneChildOptions {
  dataDir: string;
  config: ConfigInput;
  sweep: boolean;
  /** When restarting on an existing data directory: the admin token issued by the first start. */
  adminToken?: string;
}

export interface ControlPlaneChildReady {
  url: string;
  adminToken: string;
  statsUrl: string;
  pid: number;
}

export interface ControlPlaneStats {
  /** process.cpuUsage() of the control-plane process, in microseconds. */
  cpu: { user: number; system: number };
  rssBytes: number;
  /** The monotonic clock in microseconds: the time base of V8's CPU profiles, to cut a profile to a window. */
  monotonicUs: number;
  /** Calls the control plane made on its libSQL client: each is one database round trip. */
  db: { execute: number; batch: number; other: number };
  /** Wall time (ms) and count of client calls by the shape of their statements (see `shapeOf`). */
  dbByShape: Record<string, { calls: number; ms: number }>;
}

/** First words of a statement, memoized: this runs on every call the control plane makes. */
const leadingWords = new Map<string, string>();

/** A call's shape: the first words of each statement, e.g. "UPDATE tasks SET + SELECT 1 FROM". */
function shapeOf(args: unknown[]): string {
  const first = args[0];
  const statements = Array.isArray(first) ? first : [first];
  return statements
    .map((st) => {
      const sql = typeof st === "string" ? st : typeof st === "object" && st !== null && "sql" in st ? String((st as { sql: unknown }).sql) : "?";
      let words = leadingWords.get(sql);
      if (words === undefined) {
        words = sql.trimStart().slice(0, 80).split(/\s+/).slice(0, 3).join(" ");
        if (leadingWords.size < 10_000) leadingWords.set(sql, words);
      }
      return words;
    })
    .join(" + ")
    .slice(0, 160);
}

/**
 * Counts round trips by wrapping the client's methods in place. Routes, drizzle and the evaluator all
 * hold this same object, so every call they make goes through the wrappers.
 */
function countCalls(client: Client, counts: ControlPlaneStats["db"], byShape: ControlPlaneStats["dbByShape"]): void {
  const target = client as unknown as Record<string, unknown>;
  for (const method of ["execute", "batch", "transaction", "executeMultiple", "migrate"] as const) {
    const original = target[method];
    if (typeof original !== "function") continue;
    const bound = (original as (...args: unknown[]) => unknown).bind(client);
    target[method] = (...args: unknown[]): unknown => {
      if (method === "execute") counts.execute++;
      else if (method === "batch") counts.batch++;
      else counts.other++;
      // The embedded driver runs statements synchronously inside the call: its wall time is its CPU time.
      const started = performance.now();
      const shape = `${method}: ${shapeOf(args)}`;
      const done = (): void => {
        const entry = byShape[shape] ?? (byShape[shape] = { calls: 0, ms: 0 });
        entry.calls++;
        entry.ms += performance.now() - started;
      };
      const result = bound(...args);
      if (result instanceof Promise) return result.finally(done);
      done();
      return result;
    };
  }
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? "{}") as ControlPlaneChildOptions;
  const server = await startNodeServer({ dataDir: opts.dataDir, port: 0, config: parseConfig(opts.config), sweep: opts.sweep });
  const adminToken = server.adminToken ?? opts.adminToken;
  if (adminToken === undefined) throw new Error("the data directory was not fresh and no admin token was passed");
  const counts: ControlPlaneStats["db"] = { execute: 0, batch: 0, other: 0 };
  const byShape: ControlPlaneStats["dbByShape"] = {};
  countCalls(server.controlPlane.deps.store.client, counts, byShape);

  const stats = createServer((req, res) => {
    if (req.url === "/stats") {
      const body: ControlPlaneStats = { cpu: process.cpuUsage(), rssBytes: process.memoryUsage.rss(), monotonicUs: Number(process.hrtime.bigint() / 1000n), db: { ...counts }, dbByShape: byShape };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((ready) => stats.listen(0, "127.0.0.1", ready));
  const { port } = stats.address() as AddressInfo;

  // A clean exit on SIGTERM, so that --cpu-prof writes its profile.
  let closing = false;
  const stop = (): void => {
    if (closing) return;
    closing = true;
    stats.close();
    const forced = setTimeout(() => process.exit(0), 5_000);
    forced.unref();
    void server.close().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  const ready: ControlPlaneChildReady = { url: server.url, adminToken, statsUrl: `http://127.0.0.1:${port}/stats`, pid: process.pid };
  process.stdout.write(JSON.stringify(ready) + "\n");
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
