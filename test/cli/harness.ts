// A real control plane (Node server, libSQL file, its sweep on a short timer) for CLI tests, with the CLI run
// in-process against it and hollow agents as the fleet.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { HollowAgent, httpFetcher } from "../../bench/hollow-agent";
import { runCli } from "../../cli/main";
import { parseConfig } from "../../worker/config";
import { startNodeServer, type NodeServer } from "../../worker/node";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A run whose stdout is kept as the bytes written, for output that is not text (`secret get`). */
export interface BytesRun {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  /** What is piped in on stdin; without it stdin is empty, as from /dev/null. */
  stdin?: string | Uint8Array;
  /** Make stdin look like a terminal. */
  stdinTty?: boolean;
  /** Make stdout (or stderr) look like a terminal of this width. */
  stdoutTty?: number;
  stderrTty?: number;
  onStderr?: (chunk: string) => void;
  onStdout?: (chunk: string) => void;
  /** Interrupts a command that runs until interrupted, as Ctrl-C would. */
  interrupt?: AbortSignal;
}

export interface CliHarness {
  server: NodeServer;
  token: string;
  dir: string;
  cli(args: string[], opts?: CliOptions): Promise<Run>;
  cliBytes(args: string[], opts?: CliOptions): Promise<BytesRun>;
  api<T>(method: string, path: string, body?: unknown): Promise<T>;
  jobFile(name: string, text: string): string;
  /** A hollow agent, enrolled with a fresh join token and made ready by one heartbeat. */
  enroll(name: string, opts?: ConstructorParameters<typeof HollowAgent>[2]): Promise<HollowAgent>;
  /**
   * Heartbeats and claims in the background, as a live agent would, until close(). `afterClaim` may change
   * what the agent reports (a lease's state set to "failed" makes its task fail).
   */
  keepAlive(agent: HollowAgent, opts?: { everyMs?: number; afterClaim?: (agent: HollowAgent) => Promise<void> | void }): void;
  close(): Promise<void>;
}

export async function startCliHarness(opts: { /** LEASEHOLD_SECRETS_KEY: secrets are off without it */ secretsKey?: string } = {}): Promise<CliHarness> {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-cli-"));
  // The sweep's timer also runs due evaluations: a deployment's wake-up once a task has run healthy for
  // update.minHealthy comes from it, as it does on a real Node control plane.
  const server = await startNodeServer({ dataDir: join(dir, "data"), port: 0, sweep: true, config: parseConfig({ sweepInterval: "200ms" }), log: () => {}, secretsKey: opts.secretsKey });
  if (!server.adminToken) throw new Error("a fresh data dir should yield an admin token");
  const token = server.adminToken;
  const cleanups: (() => Promise<void>)[] = [];

  async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(server.url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  async function cliBytes(args: string[], opts: CliOptions = {}): Promise<BytesRun> {
    const out: Buffer[] = [];
    let stderr = "";
    const stdin = Object.assign(Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]), opts.stdinTty ? { isTTY: true } : {});
    const code = await runCli(args, {
      stdin,
      stdout: {
        write: (s: string | Uint8Array) => {
          out.push(typeof s === "string" ? Buffer.from(s) : Buffer.from(s));
          opts.onStdout?.(typeof s === "string" ? s : Buffer.from(s).toString());
        },
        ...(opts.stdoutTty !== undefined ? { isTTY: true, columns: opts.stdoutTty } : {}),
      },
      stderr: {
        write: (s: string | Uint8Array) => {
          const text = typeof s === "string" ? s : Buffer.from(s).toString();
          stderr += text;
          opts.onStderr?.(text);
        },
        ...(opts.stderrTty !== undefined ? { isTTY: true, columns: opts.stderrTty } : {}),
      },
      env: { HOME: dir, XDG_CONFIG_HOME: join(dir, "xdg"), LEASEHOLD_ADDR: server.url, LEASEHOLD_TOKEN: token, ...opts.env },
      fetch: globalThis.fetch,
      ...(opts.interrupt ? { interrupt: opts.interrupt } : {}),
    });
    return { code, stdout: Buffer.concat(out), stderr };
  }

  return {
    server,
    token,
    dir,
    api,
    async cli(args, opts = {}) {
      const run = await cliBytes(args, opts);
      return { ...run, stdout: run.stdout.toString() };
    },
    cliBytes,
    jobFile(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    async enroll(name, opts = {}) {
      const { token: joinToken } = await api<{ token: string }>("POST", "/v1/join-tokens", { description: "cli test" });
      const agent = new HollowAgent(httpFetcher(server.url), name, opts);
      await agent.enroll(joinToken);
      await agent.heartbeat();
      return agent;
    },
    keepAlive(agent, opts = {}) {
      let running = true;
      const loop = (async () => {
        while (running) {
          await agent.heartbeat();
          await agent.claim();
          await opts.afterClaim?.(agent);
          await new Promise((r) => setTimeout(r, opts.everyMs ?? 100));
        }
      })();
      cleanups.push(async () => {
        running = false;
        await loop;
      });
    },
    async close() {
      for (const c of cleanups.splice(0).reverse()) await c();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` until it returns something other than undefined. */
export async function eventually<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
