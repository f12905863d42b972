// leasehold agent: run the host agent in the foreground until SIGINT or SIGTERM.
import { hostname } from "node:os";
import { resolve } from "node:path";
import type { Command } from "commander";
import { CliError, type CliIo } from "../io";
import { labelOption } from "../options";

/** The options agent/run.ts takes; declared here so the CLI builds whether or not the agent is present. */
export interface AgentOptions {
  server: string;
  joinToken?: string;
  name: string;
  region: string;
  labels: Record<string, string>;
  dataDir: string;
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
  name?: string;
  region: string;
  label?: Record<string, string>;
  dataDir: string;
}

export function registerAgent(program: Command, io: CliIo, hooks: AgentHooks = {}): void {
  program
    .command("agent")
    .description("run the host agent: enroll with a join token, claim leases, run tasks in Docker")
    .requiredOption("--server <url>", "control plane URL")
    .option("--join-token <token>", "join token for the first enrollment (env LEASEHOLD_JOIN_TOKEN)")
    .option("--name <name>", "node name (default: this host's name)")
    .option("--region <region>", "region", "global")
    .option("--label <key=value>", "node label (repeatable)", labelOption)
    .option("--data-dir <dir>", "where the agent keeps its identity and state", ".leasehold-agent")
    .action(async (opts: AgentCliOptions) => {
      const joinToken = opts.joinToken ?? (io.env["LEASEHOLD_JOIN_TOKEN"] || undefined);
      const options: AgentOptions = {
        server: opts.server,
        ...(joinToken ? { joinToken } : {}),
        name: opts.name ?? hostname(),
        region: opts.region,
        labels: opts.label ?? {},
        dataDir: resolve(opts.dataDir),
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
