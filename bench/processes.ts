// Child processes for the benchmarks: spawn a bench script under `node --import tsx`, wait for its ready line, read its CPU and RSS.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Child<Ready> {
  pid: number;
  process: ChildProcess;
  ready: Ready;
  /** The last lines the child wrote to stderr (for diagnosis). */
  stderrTail(): string;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  /** Extra arguments for node itself, before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** Open an IPC channel to the child (process.send / "message"). */
  ipc?: boolean;
}

/** Children still running, so that none outlives the benchmark if it stops early. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Synchronous clean-ups (temporary directories) to run if the benchmark stops early. */
const cleanups = new Set<() => void>();

/** Registers a clean-up for an early stop; returns a function that unregisters it. */
export function onEarlyExit(cleanup: () => void): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** Kills every child this module started and that is still running (each by its own pid), then runs the clean-ups. */
export function killChildren(): void {
  for (const proc of live) proc.kill("SIGKILL");
  live.clear();
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // Best effort: the process is exiting.
    }
  }
  cleanups.clear();
}

/** Path of a script beside this file. */
export function benchScript(name: string): string {
  return fileURLToPath(new URL(`./${name}`, import.meta.url));
}

/** Starts `node --import tsx <script> <arg>` and resolves with the first JSON line it prints on stdout. */
export async function spawnBenchChild<Ready>(script: string, arg: unknown, opts: SpawnOptions = {}): Promise<Child<Ready>> {
  const proc: ChildProcess = spawn(process.execPath, [...(opts.nodeArgs ?? []), "--import", "tsx", script, JSON.stringify(arg)], {
    stdio: opts.ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
    // `--import tsx` resolves from the working directory: the repository root.
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    env: { ...process.env, ...(opts.env ?? {}) },
  });
  const pid = proc.pid;
  if (pid === undefined) throw new Error(`could not start ${script}`);
  live.add(proc);
  proc.once("exit", () => live.delete(proc));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", killChildren);
  }
  let stderr = "";
  proc.stderr?.setEncoding("utf8");
  proc.stderr?.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-8_000);
  });
  const exited = new Promise<void>((done) => proc.once("exit", () => done()));

  const ready = await new Promise<Ready>((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => fail(new Error(`${script} printed no ready line within ${opts.readyTimeoutMs ?? 30_000} ms`)), opts.readyTimeoutMs ?? 30_000);
    function fail(err: Error): void {
      clearTimeout(timer);
      proc.kill("SIGKILL");
      reject(new Error(`${err.message}\n${stderr.slice(-2_000)}`));
    }
    proc.stdout?.setEncoding("utf8");
    proc.stdout?.on("data", (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf("\n");
      if (newline < 0) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buffer.slice(0, newline)) as Ready);
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
    proc.once("exit", (code) => fail(new Error(`${script} exited with code ${String(code)} before it was ready`)));
  });
  // Keep draining stdout so the child never blocks on a full pipe.
  proc.stdout?.resume();

  return {
    pid,
    process: proc,
    ready,
    stderrTail: () => stderr,
    async stop(graceMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Clock ticks per second for /proc/<pid>/stat (USER_HZ is 100 on Linux for every mainstream architecture). */
const USER_HZ = 100;

/** CPU time (user + system, ms) a process has used so far, from /proc/<pid>/stat. */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may contain spaces: fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / USER_HZ;
}

/** Resident set size of a process in KiB, from /proc/<pid>/status (VmRSS). */
export function processRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match?.[1]) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]);
}
