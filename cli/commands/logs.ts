// leasehold logs JOB: logs through NAT. The request is queued, each agent picks it up on its next
// heartbeat and uploads the tail, and this command polls until every answer is in or time runs out.
import { Option, type Command } from "commander";
import type { LogRequest } from "../api-types";
import { commandContext } from "../context";
import { shortId } from "../format";
import { ApiError, type ControlPlaneClient } from "../client";
import { CliError, sleep, type CliIo } from "../io";
import { durationOption, intOption } from "../options";
import { nodeNamesById } from "./status";

const POLL_MS = 500;

interface LogsOptions {
  task?: string;
  tail: number;
  timeout: number;
}

export function registerLogs(program: Command, io: CliIo): void {
  program
    .command("logs")
    .description("print the tail of a job's task logs (fetched by the agents on their next heartbeat)")
    .argument("<job>", "job name")
    .option("--task <id>", "only this task (an id or its prefix)")
    .option("--tail <lines>", "lines per task", intOption(1, 10_000), 100)
    .addOption(new Option("--timeout <duration>", "how long to wait for the agents").argParser(durationOption).default(30_000, "30s"))
    .action(async (name: string, opts: LogsOptions, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const client = ctx.client();
      const { requests } = await requestLogs(client, ctx.namespace, name, { tail: opts.tail, ...(opts.task ? { taskId: opts.task } : {}) });
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
async function requestLogs(client: ControlPlaneClient, namespace: string, name: string, body: { taskId?: string; tail: number }) {
  try {
    return await client.requestLogs(namespace, name, body);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    await client.getJob(namespace, name);
    throw err;
  }
}
