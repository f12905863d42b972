// A control plane in its own process on a fresh file DB, with an operator client and a read connection to its DB.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "node:http";
import { createClient, type Client } from "@libsql/client";
import type { ConfigInput } from "../worker/config";
import type { ControlPlaneChildOptions, ControlPlaneChildReady, ControlPlaneStats } from "./control-plane-server";
import { benchScript, onEarlyExit, processCpuMs, spawnBenchChild, type Child } from "./processes";

export interface ApplyResponse {
  job: { id: string; version: number };
  evaluation?: { placed: number; unplaced: unknown[]; roundTrips: number; attempts: number };
}

export interface BenchControlPlane {
  url: string;
  adminToken: string;
  dataDir: string;
  pid: number;
  /** A separate connection to the control plane's DB file, for invariant checks. */
  db: Client;
  api<T>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown, timeoutMs?: number): Promise<T>;
  joinToken(): Promise<string>;
  apply(spec: Record<string, unknown>, timeoutMs?: number): Promise<ApplyResponse>;
  stats(): Promise<ControlPlaneStats>;
  /** The last lines the control plane logged (stderr), for diagnosis. */
  logTail(): string;
  /** CPU time (ms) of the control-plane process so far, from /proc. */
  cpuMs(): number;
  /** Stops the process; removes the data directory unless `keepData`. */
  close(opts?: { keepData?: boolean }): Promise<void>;
}

export interface StartOptions {
  config?: ConfigInput;
  sweep?: boolean;
  /** Extra node arguments for the child (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Restart on the data directory of an earlier control plane (stopped with keepData), with its admin token. */
  reuse?: { dataDir: string; adminToken: string };
}

export async function startControlPlane(opts: StartOptions = {}): Promise<BenchControlPlane> {
  const dataDir = opts.reuse?.dataDir ?? mkdtempSync(join(tmpdir(), "leasehold-bench-"));
  const childOpts: ControlPlaneChildOptions = {
    dataDir,
    config: opts.config ?? {},
    sweep: opts.sweep ?? true,
    ...(opts.reuse ? { adminToken: opts.reuse.adminToken } : {}),
  };
  let child: Child<ControlPlaneChildReady>;
  try {
    // LEASEHOLD_BENCH_CPU_PROFILE=<dir> profiles every control plane a scenario starts (for diagnosis).
    const profileDir = process.env["LEASEHOLD_BENCH_CPU_PROFILE"];
    const nodeArgs = opts.nodeArgs ?? (profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : []);
    child = await spawnBenchChild<ControlPlaneChildReady>(benchScript("control-plane-server.ts"), childOpts, { nodeArgs });
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const { url, adminToken, statsUrl } = child.ready;
  const db = createClient({ url: `file:${join(dataDir, "leasehold.db")}`, timeout: 10_000 });
  let closed = false;
  const apiAgent = new Agent({ keepAlive: true, maxSockets: 4 });
  const statsAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  const forget = onEarlyExit(() => rmSync(dataDir, { recursive: true, force: true }));

  async function api<T>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown, timeoutMs = 300_000): Promise<T> {
    const res = await plainRequest(apiAgent, new URL(path, url), method, { authorization: `Bearer ${adminToken}` }, body === undefined ? undefined : JSON.stringify(body), timeoutMs);
    if (res.status < 200 || res.status > 299) throw new Error(`${method} ${path}: HTTP ${res.status}: ${res.text.slice(0, 500)}`);
    return JSON.parse(res.text) as T;
  }

  return {
    url,
    adminToken,
    dataDir,
    pid: child.pid,
    db,
    api,
    async joinToken() {
      return (await api<{ token: string }>("POST", "/v1/join-tokens", {})).token;
    },
    apply: (spec, timeoutMs) => api<ApplyResponse>("POST", "/v1/jobs", spec, timeoutMs),
    async stats() {
      const res = await plainRequest(statsAgent, new URL(statsUrl), "GET", {}, undefined, 30_000);
      return JSON.parse(res.text) as ControlPlaneStats;
    },
    cpuMs: () => processCpuMs(child.pid),
    logTail: () => child.stderrTail(),
    async close(o = {}) {
      if (!closed) {
        closed = true;
        db.close();
        apiAgent.destroy();
        statsAgent.destroy();
        await child.stop();
      }
      if (!o.keepData) {
        rmSync(dataDir, { recursive: true, force: true });
        forget();
      }
    },
  };
}

/** A hollow-agent job: `replicas` tasks of a small service. */
export function hollowJob(name: string, replicas: number, resources = { cpu: 100, memory: 64 }): Record<string, unknown> {
  return { name, image: "leasehold-bench/hollow:1", replicas, resources };
}

/**
 * A request on the driver's own kept-alive connection, opened when the control plane starts: under a fleet's
 * load a new connection may wait in the server's full accept queue (connect ETIMEDOUT) while a kept one
 * does not. The server keeps idle connections 65 s; a request on a socket it closed meanwhile is sent
 * again once on a new one.
 */
function plainRequest(
  agent: Agent,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
  retried = false,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) }) },
        timeout: timeoutMs,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${url.pathname} timed out`)));
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (req.reusedSocket && err.code === "ECONNRESET" && !retried) {
        plainRequest(agent, url, method, headers, body, timeoutMs, true).then(resolve, reject);
      } else reject(err);
    });
    req.end(body);
  });
}
