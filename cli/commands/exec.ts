// leasehold exec JOB -- CMD ARGS…: a one-shot command in one task's container, through NAT. The request is
// queued for the task's agent, which picks it up with its next heartbeat, runs it and posts the answer;
// this command waits for it, prints its stdout and stderr, and exits with its exit code.
import { InvalidArgumentError, Option, type Command } from "commander";
import { DEFAULT_EXEC_TIMEOUT_MS, MAX_EXEC_TIMEOUT_MS, type ExecView } from "../../api/agent-requests";
import { ApiError, type ControlPlaneClient } from "../client";
import { commandContext } from "../context";
import { CliError, ExitWith, type CliIo } from "../io";
import { durationOption } from "../options";

/** What `timeout` exits with when it kills a command: scripts already know it. */
const TIMED_OUT_EXIT = 124;
/** How long each wait for the answer asks the control plane to hold the request. */
const WAIT = "10s";

const HELP = `
The command runs without a TTY and without stdin: an interactive shell is not covered. Its stdout and
stderr come back apart (the last 256 KiB of each), and this command exits with its exit code (124 when it
was killed at --timeout). The task's agent picks the command up with its next heartbeat (at most one
heartbeat interval, 5s by default). Needs the operator role; the audit trail records the command's first
word, its argument count and a SHA-256 of the whole command line, not the arguments.

  leasehold exec web -- sh -c 'echo out; echo err >&2; exit 3'
`;

interface ExecOptions {
  task?: string;
  timeout: number;
}

export function registerExec(program: Command, io: CliIo): void {
  program
    .command("exec")
    .description("run a one-shot command in a task's container and print its output (no TTY, no stdin)")
    .argument("<job>", "job name")
    .argument("<command...>", "the command and its arguments, after --")
    .usage("[options] <job> -- <command...>")
    .option("--task <id>", "the task (an id or its prefix); needed when the job runs more than one")
    .addOption(
      new Option("--timeout <duration>", "kill the command after this long (at most 10m)")
        .argParser((v) => {
          const ms = durationOption(v);
          if (ms < 1_000 || ms > MAX_EXEC_TIMEOUT_MS) throw new InvalidArgumentError("must be from 1s to 10m");
          return ms;
        })
        .default(DEFAULT_EXEC_TIMEOUT_MS, "30s"),
    )
    .addHelpText("after", HELP)
    .action(async (name: string, command: string[], opts: ExecOptions, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const client = ctx.client();
      const queued = await requestExec(client, ctx.namespace, name, { command, timeoutMs: opts.timeout, ...(opts.task ? { taskId: opts.task } : {}) });
      let view = queued;
      while (view.status === "pending" || view.status === "sent") view = await client.getExec(queued.id, WAIT);
      if (ctx.output === "json") ctx.json(view);
      else {
        if (view.stdout) io.stdout.write(view.stdout);
        if (view.stderr) io.stderr.write(view.stderr);
        if (view.truncated) ctx.note("(output cut to its last 256 KiB)");
      }
      if (view.status === "failed") throw new CliError(view.error ?? "the command could not be run");
      if (view.timedOut) throw new CliError(`the command did not finish within ${opts.timeout / 1000}s and was killed`, [], { exitCode: TIMED_OUT_EXIT });
      if (view.exitCode !== 0) throw new ExitWith(view.exitCode ?? 1);
    });
}

/** The control plane's refusals, said in this command's words. */
async function requestExec(client: ControlPlaneClient, namespace: string, name: string, body: Parameters<ControlPlaneClient["requestExec"]>[2]): Promise<ExecView> {
  try {
    return await client.requestExec(namespace, name, body);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    const taskField = err.errors.find((e) => e.path === "taskId");
    if (err.status === 400 && taskField) throw new CliError(`${taskField.message}; pick one with --task`);
    // A 404 is a job that does not exist, or one with no running task: the job says which.
    if (err.status === 404) await client.getJob(namespace, name);
    throw err;
  }
}
