// leasehold agent: run the host agent in the foreground until SIGINT or SIGTERM.
// The join token is read from LEASEHOLD_JOIN_TOKEN or --join-token-file: a --join-token on the command
// line is visible to every user of the host in `ps`, so it still works but is warned about. The secrets dir
// comes from --secrets-dir or LEASEHOLD_SECRETS_DIR, the addresses to advertise from --advertise or
// LEASEHOLD_ADVERTISE, the metrics address from --metrics-addr or LEASEHOLD_METRICS_ADDR.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import { CliError, type CliIo } from "../io";
import { advertiseOption, durationAtLeast, intOption, labelOption, parseAdvertise, type AdvertiseEntry } from "../options";

/** The options agent/run.ts takes; declared here so the CLI builds whether or not the agent is present. */
export interface AgentOptions {
  server: string;
  joinToken?: string;
  name: string;
  /** Absent: the region the join token is bound to, or "global". */
  region?: string;
  labels: Record<string, string>;
  dataDir: string;
  keepExited?: number;
  logLevel?: LogLevel;
  /** A tmpfs directory for task secret and config files; absent: the agent's default. */
  secretsDir?: string;
  /** Where other hosts reach this one; absent: the agent detects one. */
  advertise?: AdvertiseEntry[];
  /** Serve no DNS on job networks' gateways. */
  noDns?: boolean;
  /** The mesh port (0: any free one); null: no mesh. */
  meshPort?: number | null;
  /** HOST:PORT to serve Prometheus metrics on; null: none. */
  metricsAddr?: string | null;
  /** How often each running task's cpu and memory are sampled. */
  statsIntervalMs?: number;
}

// Spelled again here (agent/log.ts has them) for the same reason as AgentOptions.
const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

function logLevelOption(value: string): LogLevel {
  const level = LOG_LEVELS.find((l) => l === value);
  if (!level) throw new InvalidArgumentError(`must be one of ${LOG_LEVELS.join(", ")}`);
  return level;
}

export type RunAgent = (opts: AgentOptions) => Promise<{ nodeId: string; stop(): Promise<void> }>;

/** Where shutdown signals come from: the process, or a stand-in in tests. */
export interface SignalSource {
  on(signal: "SIGINT" | "SIGTERM", listener: () => void): unknown;
  off(signal: "SIGINT" | "SIGTERM", listener: () => void): unknown;
}

export interface AgentHooks {
  runAgent?: RunAgent;
  signals?: SignalSource;
}

// A variable specifier, so the CLI type-checks and loads even in a build without the agent.
const AGENT_MODULE = "../../agent/run";

async function loadRunAgent(): Promise<RunAgent> {
  let mod: unknown;
  try {
    mod = await import(AGENT_MODULE);
  } catch (cause) {
    throw new CliError(`the agent is not available in this build: ${(cause as Error).message}`, [], { cause });
  }
  const runAgent = (mod as { runAgent?: unknown }).runAgent;
  if (typeof runAgent !== "function") throw new CliError("the agent module does not export runAgent");
  return runAgent as RunAgent;
}

interface AgentCliOptions {
  server: string;
  joinToken?: string;
  joinTokenFile?: string;
  name?: string;
  region?: string;
  label?: Record<string, string>;
  dataDir: string;
  keepExited?: number;
  logLevel?: LogLevel;
  secretsDir?: string;
  advertise?: AdvertiseEntry[];
  /** commander's negation of --no-dns: false when it is given. */
  dns: boolean;
  meshPort?: number;
  /** commander's negation of --no-mesh: false when it is given. */
  mesh: boolean;
  metricsAddr?: string;
  /** commander's negation of --no-metrics: false when it is given. */
  metrics: boolean;
  statsInterval?: number;
}

/** The mesh port when none is given: other nodes' proxies dial it, so it is the same on every host. */
export const DEFAULT_MESH_PORT = 7701;

function meshPortOf(io: CliIo): number {
  const text = io.env["LEASEHOLD_MESH_PORT"];
  if (text === undefined || text === "") return DEFAULT_MESH_PORT;
  if (!/^\d+$/.test(text) || Number(text) > 65535) throw new CliError(`LEASEHOLD_MESH_PORT must be a port number from 0 to 65535, not ${JSON.stringify(text)}`);
  return Number(text);
}

/**
 * Where metrics are served when no address is given. Loopback: the figures name jobs and tasks, so no other
 * host reads them unless the operator says so. A fixed port, so one scrape config fits every host: next to
 * the mesh port, and not 9464, which OpenTelemetry's Prometheus exporters take by default on the same hosts.
 */
export const DEFAULT_METRICS_ADDR = "127.0.0.1:7702";

/** HOST:PORT (an IPv6 host in brackets); agent/metrics parses it again, this is for an early, clear error. */
function metricsAddrOption(value: string): string {
  if (value === "off") return value;
  const m = /^(?:\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(value);
  if (!m || Number(m[1]) > 65535) throw new InvalidArgumentError("must be HOST:PORT (an IPv6 host in brackets), or off");
  return value;
}

/** --no-metrics, else --metrics-addr, else LEASEHOLD_METRICS_ADDR, else the default; "off" in either: none. */
function metricsAddrOf(opts: AgentCliOptions, io: CliIo): string | null {
  if (opts.metrics === false) return null;
  let addr = opts.metricsAddr;
  const env = io.env["LEASEHOLD_METRICS_ADDR"];
  if (addr === undefined && env) {
    try {
      addr = metricsAddrOption(env);
    } catch (cause) {
      throw new CliError(`LEASEHOLD_METRICS_ADDR ${(cause as Error).message}, not ${JSON.stringify(env)}`, [], { cause });
    }
  }
  addr ??= DEFAULT_METRICS_ADDR;
  return addr === "off" ? null : addr;
}

/** The control plane takes at most this many advertised addresses. */
const MAX_ADVERTISE = 8;

/** Addresses to advertise from --advertise, else LEASEHOLD_ADVERTISE (same syntax), else none (the agent detects one). */
function advertiseOf(opts: AgentCliOptions, io: CliIo): AdvertiseEntry[] | undefined {
  let entries = opts.advertise;
  const env = io.env["LEASEHOLD_ADVERTISE"];
  if (entries === undefined && env) {
    try {
      entries = parseAdvertise(env);
    } catch (cause) {
      throw new CliError(`LEASEHOLD_ADVERTISE: ${(cause as Error).message}`, [], { cause });
    }
  }
  if (entries === undefined || entries.length === 0) return undefined;
  if (entries.length > MAX_ADVERTISE) throw new CliError(`at most ${MAX_ADVERTISE} addresses can be advertised, not ${entries.length}`);
  return entries;
}

/** The join token from the command line, a file, or the environment (in that order; at most one of the first two). */
function joinTokenOf(opts: AgentCliOptions, io: CliIo): string | undefined {
  if (opts.joinToken !== undefined && opts.joinTokenFile !== undefined) throw new CliError("give --join-token or --join-token-file, not both");
  if (opts.joinToken !== undefined) {
    io.stderr.write("warning: a join token on the command line is visible to other users in ps; use LEASEHOLD_JOIN_TOKEN or --join-token-file\n");
    return opts.joinToken;
  }
  if (opts.joinTokenFile !== undefined) {
    let token: string;
    try {
      token = readFileSync(opts.joinTokenFile, "utf8").trim();
    } catch (cause) {
      throw new CliError(`cannot read the join token file ${opts.joinTokenFile}: ${(cause as Error).message}`, [], { cause });
    }
    if (!token) throw new CliError(`the join token file ${opts.joinTokenFile} is empty`);
    return token;
  }
  return io.env["LEASEHOLD_JOIN_TOKEN"] || undefined;
}

export function registerAgent(program: Command, io: CliIo, hooks: AgentHooks = {}): void {
  program
    .command("agent")
    .description("run the host agent: enroll with a join token, claim leases, run tasks in Docker")
    .requiredOption("--server <url>", "control plane URL")
    .option("--join-token-file <path>", "file holding the join token for the first enrollment (or env LEASEHOLD_JOIN_TOKEN)")
    .option("--join-token <token>", "join token on the command line (visible in ps: prefer the file or the environment)")
    .option("--name <name>", "node name (default: this host's name)")
    .option("--region <region>", "region (default: the join token's region, else global)")
    .option("--label <key=value>", "node label (repeatable)", labelOption)
    .option("--data-dir <dir>", "where the agent keeps its identity and state", ".leasehold-agent")
    .option("--keep-exited <n>", "exited containers kept per slot for logs (default 3)", intOption(0, 1000))
    .option("--log-level <level>", "least severe log level: debug, info, warn, error (default info)", logLevelOption)
    .option(
      "--secrets-dir <dir>",
      "tmpfs directory for task secret and config files (or env LEASEHOLD_SECRETS_DIR; default the first of /run/leasehold/secrets and /dev/shm/leasehold/secrets on tmpfs)",
    )
    .option(
      "--advertise <addr[,scope=region|public]>",
      "an address other hosts reach this one at (repeatable, or a comma-separated list; or env LEASEHOLD_ADVERTISE; default this host's first non-internal IPv4, scope region)",
      advertiseOption,
    )
    .option("--no-dns", "serve no DNS on job networks' gateways (tasks then find upstreams by LEASEHOLD_UPSTREAM_<NAME>_ADDR only)")
    .option("--mesh-port <port>", `the mutual-TLS port other nodes' proxies reach this node's endpoints through (or env LEASEHOLD_MESH_PORT; default ${DEFAULT_MESH_PORT}; 0: any free port)`, intOption(0, 65535))
    .option("--no-mesh", "open no mesh port: this node's endpoints are then reachable from itself only")
    .option(
      "--metrics-addr <host:port>",
      `serve Prometheus metrics at http://HOST:PORT/metrics (or env LEASEHOLD_METRICS_ADDR; default ${DEFAULT_METRICS_ADDR}; port 0: any free one; off: none)`,
      metricsAddrOption,
    )
    .option("--no-metrics", "serve no metrics")
    .addOption(new Option("--stats-interval <duration>", "how often to sample each running task's cpu and memory, for metrics, status and top (default 10s)").argParser(durationAtLeast(1_000)))
    .action(async (opts: AgentCliOptions) => {
      const joinToken = joinTokenOf(opts, io);
      const advertise = advertiseOf(opts, io);
      const secretsDir = opts.secretsDir ?? (io.env["LEASEHOLD_SECRETS_DIR"] || undefined);
      const options: AgentOptions = {
        server: opts.server,
        ...(joinToken ? { joinToken } : {}),
        name: opts.name ?? hostname(),
        ...(opts.region !== undefined ? { region: opts.region } : {}),
        labels: opts.label ?? {},
        dataDir: resolve(opts.dataDir),
        ...(opts.keepExited !== undefined ? { keepExited: opts.keepExited } : {}),
        ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel } : {}),
        ...(secretsDir !== undefined ? { secretsDir: resolve(secretsDir) } : {}),
        ...(advertise !== undefined ? { advertise } : {}),
        ...(opts.dns === false ? { noDns: true } : {}),
        meshPort: opts.mesh === false ? null : (opts.meshPort ?? meshPortOf(io)),
        metricsAddr: metricsAddrOf(opts, io),
        ...(opts.statsInterval !== undefined ? { statsIntervalMs: opts.statsInterval } : {}),
      };
      const runAgent = hooks.runAgent ?? (await loadRunAgent());
      const signals: SignalSource = hooks.signals ?? process;
      // Listen before starting: enrollment retries while the control plane is unreachable, and Ctrl-C must still end it.
      let onSignal: () => void = () => {};
      const stopRequested = new Promise<void>((done) => {
        onSignal = () => done();
      });
      signals.on("SIGINT", onSignal);
      signals.on("SIGTERM", onSignal);
      // Without our listeners, a second Ctrl-C while stopping ends the process the default way.
      const unlisten = () => {
        signals.off("SIGINT", onSignal);
        signals.off("SIGTERM", onSignal);
      };
      try {
        const starting = runAgent(options);
        const agent = await Promise.race([starting, stopRequested.then(() => null)]);
        if (agent === null) {
          io.stderr.write("interrupted before the agent started\n");
          // runAgent takes no abort signal: stop it if it does start, and let the process exit meanwhile.
          starting.then((a) => a.stop()).catch(() => {});
          return;
        }
        io.stderr.write(`agent ${options.name} running as node ${agent.nodeId} against ${options.server}\n`);
        await stopRequested;
        unlisten();
        io.stderr.write("stopping the agent\n");
        await agent.stop();
      } finally {
        unlisten();
      }
    });
}
