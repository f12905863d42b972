// leasehold logs JOB: logs through NAT. The request is queued, each agent picks it up on its next
// heartbeat and uploads the tail, and this command polls until every answer is in or time runs out.
// With -f it follows instead (see log-follow.ts).
import { Option, type Command } from "commander";
import type { LogRequest } from "../api-types";
import { commandContext } from "../context";
import { shortId } from "../format";
import { ApiError, type ControlPlaneClient } from "../client";
import { CliError, sleep, type CliIo } from "../io";
import { followLogs } from "../log-follow";
import { durationOption, intOption } from "../options";
import type { SignalSource } from "./agent";
import { nodeNamesById } from "./status";

const POLL_MS = 500;

interface LogsOptions {
  task?: string;
  tail?: number;
  since?: number;
  timestamps?: boolean;
  stderr?: boolean;
  follow?: boolean;
  timeout: number;
}

const HELP = `
Logs travel through the agents' own outbound connections: an agent picks a request up with its next
heartbeat (at most one heartbeat interval, 5s by default). With -f, new lines then arrive within about a
second, until Ctrl-C; the stream is opened again if it drops. Lines are printed as the engine kept them:
stdout and stderr interleaved, both on this command's stdout.
`;

export function registerLogs(program: Command, io: CliIo, hooks: { signals?: SignalSource } = {}): void {
  program
    .command("logs")
    .description("print a job's task logs: their tail, or with -f, follow them (fetched by the agents on their next heartbeat)")
    .argument("<job>", "job name")
    .option("--task <id>", "only this task (an id or its prefix)")
    .option("-f, --follow", "follow: print new lines as they are written, until Ctrl-C")
    .option("--tail <lines>", "lines per task to start with (default 100; with --since, every line since; with -f, 0 for new lines only)", intOption(0, 10_000))
    .addOption(new Option("--since <duration>", "only lines from this far back (90s, 5m, 2h)").argParser(durationOption))
    .option("--timestamps", "start each line with the time it was written (RFC 3339)")
    .option("--stderr", "only the stderr stream (default: stdout and stderr, interleaved as written, as docker logs shows them)")
    .addOption(new Option("--timeout <duration>", "how long to wait for the agents (without -f)").argParser(durationOption).default(30_000, "30s"))
    .addHelpText("after", HELP)
    .action(async (name: string, opts: LogsOptions, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      if (opts.follow) {
        return followLogs(ctx, { name, task: opts.task, tail: opts.tail, sinceMs: opts.since, timestamps: opts.timestamps === true, stderr: opts.stderr === true }, hooks.signals ?? process);
      }
      if (opts.tail === 0) throw new CliError("--tail 0 prints nothing without -f: give at least 1");
      const client = ctx.client();
      const { requests } = await requestLogs(client, ctx.namespace, name, {
        ...(opts.tail !== undefined ? { tail: opts.tail } : {}),
        ...(opts.task ? { taskId: opts.task } : {}),
        ...(opts.since !== undefined ? { since: opts.since } : {}),
        ...(opts.timestamps ? { timestamps: true } : {}),
        ...(opts.stderr ? { stream: "stderr" as const } : {}),
      });
      const deadline = Date.now() + opts.timeout;
      const answers = new Map<string, LogRequest>();
      for (;;) {
        const open = requests.filter((r) => !answers.has(r.id));
        const polled = await Promise.all(open.map((r) => client.getLogRequest(r.id)));
        for (const r of polled) if (r.status === "done" || r.status === "failed") answers.set(r.id, r);
        const left = deadline - Date.now();
        if (answers.size === requests.length || left <= 0) break;
        await sleep(Math.min(POLL_MS, left));
      }
      const final = requests.map((r) => answers.get(r.id) ?? r);
      if (ctx.output === "json") ctx.json({ requests: final });
      else {
        const names = requests.length > 1 ? await nodeNamesById(client) : new Map<string, string>();
        final.forEach((r, i) => {
          if (r.status !== "done") return;
          if (requests.length > 1) {
            ctx.out(`${i > 0 ? "\n" : ""}==> task ${shortId(r.taskId)} on ${names.get(r.nodeId) ?? shortId(r.nodeId)} <==`);
            ctx.out(r.output ? r.output : "(no output)");
          } else if (r.output) ctx.out(r.output);
          // One task's tail is stdout as is, so a pipe gets only its lines; the note goes beside it.
          else ctx.note(`task ${shortId(r.taskId)} has no output`);
        });
      }
      const failed = final.filter((r) => r.status === "failed").map((r) => `task ${shortId(r.taskId)}: ${r.output ?? "the agent could not read the logs"}`);
      const waiting = final.filter((r) => r.status === "pending" || r.status === "sent").map((r) => `task ${shortId(r.taskId)} (node ${shortId(r.nodeId)})`);
      const problems = [...failed, ...(waiting.length > 0 ? [`no answer within ${opts.timeout / 1000}s from ${waiting.join(", ")}: is its agent connected?`] : [])];
      if (problems.length > 0) throw new CliError(problems.join("; "));
    });
}

/**
 * The control plane answers 404 both for a job that does not exist and for one with no task on a node;
 * the job itself says which.
 */
async function requestLogs(client: ControlPlaneClient, namespace: string, name: string, body: Parameters<ControlPlaneClient["requestLogs"]>[2]) {
  try {
    return await client.requestLogs(namespace, name, body);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    await client.getJob(namespace, name);
    throw err;
  }
}
