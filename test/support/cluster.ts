// Test support for end-to-end runs: a real control plane, real agent processes on the real Docker
// engine, the CLI in-process, and helpers to wait on what the API and Docker show.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Dockerode from "dockerode";
import { runCli } from "../../cli/main";
import { parseConfig, type ConfigInput } from "../../worker/config";
import { startNodeServer, type NodeServer } from "../../worker/node";
import type { Task } from "../../cli/api-types";
import { cleanupNode, eventually } from "./docker";

/** LEASEHOLD_SECRETS_KEY of test clusters: 32 bytes, base64. */
export const TEST_SECRETS_KEY = btoa(String.fromCharCode(...new Uint8Array(32).fill(42)));

export interface AgentProcess {
  name: string;
  dataDir: string;
  proc: ChildProcess;
  output: string[];
  /** Resolves when the process has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** A task as the job API shows it. */
export type TaskInfo = Task;

export class TestCluster {
  readonly docker = new Dockerode();
  private readonly agents: AgentProcess[] = [];
  private readonly nodes = new Set<string>();
  server!: NodeServer;
  dir = "";
  config: ConfigInput = {};
  private host: string | undefined;
  private secretsKey: string | undefined;
  /** The control plane's log, one JSON line per entry. */
  readonly controlPlaneLog: string[] = [];

  /**
   * `host`: the address to listen on (e.g. a veth end, so that an agent in a network namespace reaches it).
   * `secretsKey`: LEASEHOLD_SECRETS_KEY (default: a fixed test key, so secrets work).
   */
  async start(config: ConfigInput = { heartbeatInterval: "1s", leaseTtl: "3s", sweepInterval: "500ms" }, opts: { host?: string; secretsKey?: string } = {}): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), "leasehold-e2e-"));
    this.config = config;
    this.host = opts.host;
    this.secretsKey = opts.secretsKey ?? TEST_SECRETS_KEY;
    this.server = await startNodeServer(this.serverOptions(0));
  }

  /** Restarts the control plane on the same data directory and port (agents keep the URL). */
  async restartControlPlane(): Promise<void> {
    this.server = await startNodeServer(this.serverOptions(Number(new URL(this.server.url).port)));
  }

  private serverOptions(port: number): Parameters<typeof startNodeServer>[0] {
    const log = (message: string, fields?: Record<string, unknown>) => void this.controlPlaneLog.push(JSON.stringify({ message, ...fields }));
    return { dataDir: join(this.dir, "cp"), port, ...this.listenOn(), config: parseConfig(this.config), log, secretsKey: this.secretsKey };
  }

  private listenOn(): { host?: string } {
    return this.host === undefined ? {} : { host: this.host };
  }

  get url(): string {
    return this.server.url;
  }

  get token(): string {
    if (!this.server.adminToken) throw new Error("no admin token");
    return this.server.adminToken;
  }

  async api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(this.url + path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const data = (await res.json()) as T;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
    return data;
  }

  async joinToken(): Promise<string> {
    return (await this.api<{ token: string }>("POST", "/v1/join-tokens", {})).token;
  }

  /**
   * Starts `leasehold agent` as its own OS process (so it can be SIGKILLed). `wrap` prefixes its command
   * line (e.g. to run it inside a network namespace); `region` defaults to "local".
   */
  async spawnAgent(
    name: string,
    opts: { dataDir?: string; joinToken?: string | null; region?: string; wrap?: (argv: string[]) => string[]; /** Another URL for the control plane (a recording proxy) */ server?: string; /** More options for `leasehold agent` */ args?: string[] } = {},
  ): Promise<AgentProcess> {
    this.nodes.add(name);
    const dataDir = opts.dataDir ?? join(this.dir, `agent-${name}`);
    const token = opts.joinToken === undefined ? await this.joinToken() : opts.joinToken;
    const args = [process.execPath, "cli/bin.js", "agent", "--server", opts.server ?? this.url, "--name", name, "--region", opts.region ?? "local", "--data-dir", dataDir];
    if (token) args.push("--join-token", token);
    // Several agents share this host: each takes a free mesh port, which its enrollment records.
    args.push("--mesh-port", "0");
    // …and a free metrics port, where the CLI's default is a fixed one.
    args.push("--metrics-addr", "127.0.0.1:0");
    if (opts.args) args.push(...opts.args);
    const [cmd, ...rest] = opts.wrap ? opts.wrap(args) : args;
    const proc = spawn(cmd!, rest, { stdio: ["ignore", "pipe", "pipe"] });
    const output: string[] = [];
    proc.stdout?.on("data", (d: Buffer) => output.push(d.toString()));
    proc.stderr?.on("data", (d: Buffer) => output.push(d.toString()));
    const agent: AgentProcess = {
      name,
      dataDir,
      proc,
      output,
      kill: (signal) =>
        new Promise<void>((resolve) => {
          if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
          proc.once("exit", () => resolve());
          proc.kill(signal);
        }),
    };
    this.agents.push(agent);
    await this.waitFor(`agent ${name} ready`, async () => {
      const { nodes } = await this.api<{ nodes: { name: string; state: string }[] }>("GET", "/v1/nodes");
      return nodes.some((n) => n.name === name && n.state === "ready") ? true : undefined;
    }, 30_000, () => output.join("").slice(-2000));
    return agent;
  }

  /** Runs the CLI in-process against this cluster. */
  async cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = "";
    let stderr = "";
    const code = await runCli(argv, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: { LEASEHOLD_ADDR: this.url, LEASEHOLD_TOKEN: this.token },
    });
    return { code, stdout, stderr };
  }

  async job(name: string): Promise<{ tasks: TaskInfo[]; job: { status: string; version: number } }> {
    return this.api("GET", `/v1/namespaces/default/jobs/${name}`);
  }

  async nodeId(name: string): Promise<string> {
    return (await this.api<{ node: { id: string } }>("GET", `/v1/nodes/${name}`)).node.id;
  }

  /** Containers of this node (running unless `all`), as Docker itself shows them. */
  async containers(node: string, all = false): Promise<Dockerode.ContainerInfo[]> {
    return this.docker.listContainers({ all, filters: { label: [`io.leasehold.node=${node}`] } });
  }

  async waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, context?: () => string): Promise<T> {
    try {
      return await eventually(probe, timeoutMs, what);
    } catch (err) {
      throw new Error(`${(err as Error).message}${context ? `\n${context()}` : ""}`);
    }
  }

  async stop(): Promise<void> {
    // An agent stuck on a dropped connection must not hold up the cleanup.
    await Promise.all(
      this.agents.map(async (a) => {
        const timer = setTimeout(() => a.proc.kill("SIGKILL"), 5_000);
        await a.kill("SIGTERM");
        clearTimeout(timer);
      }),
    );
    await this.server?.close().catch(() => undefined);
    for (const node of this.nodes) await cleanupNode(node, this.docker);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
