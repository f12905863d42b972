// Ceilings measured in the same run as the scenarios: hello-world Hono under the same load generator,
// raw libSQL writes on a WAL file, and raw `docker run -d` of the test image.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createClient } from "@libsql/client";
import { runLoad, type LoadResult } from "./load";
import { benchScript, processCpuMs, spawnBenchChild } from "./processes";
import { median } from "./stats";

const run = promisify(execFile);

export const TEST_IMAGE = "leasehold-test/busybox:latest";
export const TEST_COMMAND = ["httpd", "-f", "-p", "8080", "-h", "/www"];
/** Label on every container the benchmark starts itself, so it can remove them all. */
export const RAW_LABEL = "io.leasehold-bench.raw=1";

export interface HttpCeiling {
  runs: LoadResult[];
  rps: number;
  p99: number;
  /** The server process's CPU (from /proc) per 1,000 answered requests, median over runs. */
  cpuMsPer1000: number;
}

/** Hello-world Hono on @hono/node-server in its own process, autocannon as fast as it answers. */
export async function helloWorldCeiling(opts: { runs: number; durationSec: number; connections: number }): Promise<HttpCeiling> {
  const child = await spawnBenchChild<{ url: string }>(benchScript("hello-server.ts"), {});
  try {
    await runLoad({ url: child.ready.url, durationSec: 1, connections: opts.connections }); // warm-up
    const runs: LoadResult[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < opts.runs; i++) {
      const before = processCpuMs(child.pid);
      const r = await runLoad({ url: child.ready.url, durationSec: opts.durationSec, connections: opts.connections });
      cpu.push(((processCpuMs(child.pid) - before) / Math.max(1, r.ok)) * 1000);
      runs.push(r);
    }
    return { runs, rps: median(runs.map((r) => r.rps)), p99: median(runs.map((r) => r.p99)), cpuMsPer1000: median(cpu) };
  } finally {
    await child.stop();
  }
}

export interface LibsqlCeiling {
  singleInsertsPerSec: number;
  batchRowsPerSec: number;
  batchSize: number;
  runs: number;
}

/** Raw libSQL writes on a fresh WAL file with a busy timeout (the settings the control plane uses). */
export async function libsqlCeiling(opts: { runs: number; durationMs: number; batchSize: number }): Promise<LibsqlCeiling> {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-bench-sql-"));
  const client = createClient({ url: `file:${join(dir, "ceiling.db")}`, timeout: 10_000 });
  try {
    await client.execute("PRAGMA journal_mode = WAL");
    await client.execute("PRAGMA synchronous = NORMAL");
    await client.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, node TEXT NOT NULL, state TEXT NOT NULL, at INTEGER NOT NULL)");
    const single: number[] = [];
    const batch: number[] = [];
    let id = 0;
    for (let r = 0; r < opts.runs; r++) {
      let n = 0;
      let started = performance.now();
      while (performance.now() - started < opts.durationMs) {
        await client.execute({ sql: "INSERT INTO rows (id, node, state, at) VALUES (?, ?, 'running', ?)", args: [++id, `node-${id % 1000}`, Date.now()] });
        n++;
      }
      single.push(n / ((performance.now() - started) / 1000));
      n = 0;
      started = performance.now();
      while (performance.now() - started < opts.durationMs) {
        const statements = Array.from({ length: opts.batchSize }, () => ({
          sql: "INSERT INTO rows (id, node, state, at) VALUES (?, ?, 'running', ?)",
          args: [++id, `node-${id % 1000}`, Date.now()],
        }));
        await client.batch(statements, "write");
        n += opts.batchSize;
      }
      batch.push(n / ((performance.now() - started) / 1000));
    }
    return { singleInsertsPerSec: median(single), batchRowsPerSec: median(batch), batchSize: opts.batchSize, runs: opts.runs };
  } finally {
    client.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether a Docker engine answers, and if not, why. */
export async function dockerAvailable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    await run("docker", ["version", "--format", "{{.Server.Version}}"], { timeout: 10_000 });
  } catch (err) {
    return { ok: false, reason: `no Docker engine answers (${err instanceof Error ? err.message.split("\n")[0] : String(err)})` };
  }
  try {
    await run("docker", ["image", "inspect", TEST_IMAGE], { timeout: 10_000 });
  } catch {
    return { ok: false, reason: `the test image ${TEST_IMAGE} is missing (build it with: bash scripts/ensure-docker.sh)` };
  }
  return { ok: true };
}

/** Starts `count` containers with `docker run -d` at once; resolves with the ms until the last one returned, and their ids. */
export async function rawDockerRun(count: number): Promise<{ ms: number; ids: string[] }> {
  const started = performance.now();
  const ids = await Promise.all(
    Array.from({ length: count }, async () => {
      const { stdout } = await run("docker", ["run", "-d", "--label", RAW_LABEL, TEST_IMAGE, ...TEST_COMMAND], { timeout: 60_000 });
      return stdout.trim();
    }),
  );
  return { ms: performance.now() - started, ids };
}

export async function removeContainers(ids: readonly string[]): Promise<void> {
  if (ids.length > 0) await run("docker", ["rm", "-f", ...ids], { timeout: 60_000 });
}

/** Removes every container carrying `label` (key=value). */
export async function removeLabelled(label: string): Promise<number> {
  const { stdout } = await run("docker", ["ps", "-aq", "--filter", `label=${label}`], { timeout: 30_000 });
  const ids = stdout.split("\n").filter((s) => s.trim() !== "");
  await removeContainers(ids);
  return ids.length;
}

export interface DockerCeiling {
  medianStartMs: number;
  runs: number;
}

/** `docker run -d` of the test image, then removal (not timed); median over runs. */
export async function dockerCeiling(runs: number): Promise<DockerCeiling> {
  const times: number[] = [];
  await removeContainers((await rawDockerRun(1)).ids); // warm-up
  for (let i = 0; i < runs; i++) {
    const { ms, ids } = await rawDockerRun(1);
    times.push(ms);
    await removeContainers(ids);
  }
  return { medianStartMs: median(times), runs };
}
