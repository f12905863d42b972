// The leasehold CLI: one commander program; runCli runs it in-process and returns the exit code.
import { pathToFileURL } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { ApiError, ConnectionError } from "./client";
import { registerAgent, type AgentHooks } from "./commands/agent";
import { registerApply } from "./commands/apply";
import { registerAudit } from "./commands/audit";
import { registerBootstrap } from "./commands/bootstrap";
import { registerDb } from "./commands/db";
import { registerDeployment } from "./commands/deployment";
import { registerEvents } from "./commands/events";
import { registerExec } from "./commands/exec";
import { registerHistory } from "./commands/history";
import { registerLogs } from "./commands/logs";
import { registerNodes } from "./commands/nodes";
import { registerServices } from "./commands/services";
import { registerPlan } from "./commands/plan";
import { registerRollout } from "./commands/rollout";
import { registerSecret } from "./commands/secret";
import { registerStatus } from "./commands/status";
import { registerStop } from "./commands/stop";
import { registerToken } from "./commands/token";
import { registerTop } from "./commands/top";
import { EXIT_CODES_HELP } from "./exit-codes";
import { CliError, defaultIo, ExitCodeError, ExitWith, exitQuietlyOnBrokenPipe, type CliIo } from "./io";

export type { CliIo } from "./io";

/** The program, writing to io. Errors are thrown (commander's exit is overridden); runCli reports them. */
export function buildProgram(io: Partial<CliIo> & AgentHooks = {}): Command {
  const full: CliIo = { ...defaultIo(), ...io };
  const program = new Command("leasehold")
    .description("operate a leasehold control plane: jobs, deployments, nodes, logs; run an agent")
    .addOption(new Option("--addr <url>", "control plane URL (env LEASEHOLD_ADDR)"))
    .addOption(new Option("--token <token>", "operator token (env LEASEHOLD_TOKEN)"))
    .addOption(new Option("-n, --namespace <ns>", "namespace").default("default"))
    .addOption(new Option("-o, --output <format>", "output format").choices(["table", "json"]).default("table"))
    .addHelpText("after", EXIT_CODES_HELP)
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (s) => void full.stdout.write(s),
      writeErr: (s) => void full.stderr.write(s),
    })
    // Inherited by the subcommands added below: commander throws instead of exiting the process.
    .exitOverride();
  registerApply(program, full);
  registerPlan(program, full);
  registerStatus(program, full);
  registerNodes(program, full);
  registerServices(program, full);
  registerLogs(program, full, io);
  registerExec(program, full);
  registerStop(program, full);
  registerHistory(program, full);
  registerDeployment(program, full);
  registerRollout(program, full);
  registerSecret(program, full);
  registerDb(program, full);
  registerToken(program, full);
  registerAudit(program, full);
  registerEvents(program, full);
  registerTop(program, full);
  registerAgent(program, full, io);
  registerBootstrap(program, full);
  return program;
}

/** Runs the CLI on argv (without node and script); prints any error as one line and returns the exit code. */
export async function runCli(argv: string[], io: Partial<CliIo> & AgentHooks = {}): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  try {
    await buildProgram(io).parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    // Commander has already printed its own usage errors; --help and --version end here with 0.
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ExitWith) return err.exitCode;
    stderr.write(describeError(err));
    return err instanceof CliError || err instanceof ExitCodeError ? err.exitCode : 1;
  }
}

/** `error: <detail>`, then one indented line per offending field. Never a stack trace. */
export function describeError(err: unknown): string {
  if (err instanceof ExitCodeError) return describeError(err.cause);
  if (err instanceof ApiError) {
    if (err.status === 401) return `error: not authenticated: ${err.message} (check --token or LEASEHOLD_TOKEN)\n`;
    if (err.errors.length > 0) return `error: ${(err.title ?? "request is invalid").toLowerCase()}\n${fieldLines(err.errors)}`;
    return `error: ${err.message}\n`;
  }
  if (err instanceof CliError) return `error: ${err.message}\n${fieldLines(err.fields)}`;
  if (err instanceof ConnectionError) return `error: ${err.message}\n`;
  return `error: ${err instanceof Error ? err.message : String(err)}\n`;
}

function fieldLines(fields: { path: string; message: string }[]): string {
  return fields.map((f) => `  ${f.path || "(root)"}: ${f.message}\n`).join("");
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  exitQuietlyOnBrokenPipe([process.stdout, process.stderr]);
  const code = await runCli(argv);
  process.exitCode = code;
  // Anything still holding the event loop open (an agent's sockets, keep-alive) must not hold the exit.
  setTimeout(() => process.exit(code), 200).unref();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) void main();
