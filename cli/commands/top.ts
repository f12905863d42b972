// leasehold top [JOB]: each task's cpu and memory, from the samples agents report in heartbeats (every
// 10 s by default), busiest first. On a terminal it redraws in place every --interval until interrupted;
// to a pipe, or with --once, it prints one table.
import { Option, type Command } from "commander";
import type { TaskSamples } from "../api-types";
import { commandContext } from "../context";
import { formatAge, formatCpu, formatMemory, formatTable, shortId } from "../format";
import { interruption, sleepUnlessAborted, type CliIo } from "../io";
import { InPlaceBlock } from "../live-display";
import { durationOption } from "../options";
import { nodeNamesById } from "./status";

interface TopOptions {
  once?: boolean;
  interval: number;
  sort: "cpu" | "memory";
}

const HEADERS = ["JOB", "TASK", "SLOT", "NODE", "CPU", "MEMORY", "MEM%", "SAMPLED"];

export function topRows(tasks: TaskSamples[], nodeNames: Map<string, string>, sort: TopOptions["sort"], now: number): string[][] {
  const latest = tasks.flatMap((t) => (t.samples[0] ? [{ t, s: t.samples[0] }] : []));
  latest.sort((a, b) => (sort === "memory" ? b.s.memoryBytes - a.s.memoryBytes : b.s.cpuPercent - a.s.cpuPercent) || a.t.job.localeCompare(b.t.job) || a.t.slot - b.t.slot);
  return latest.map(({ t, s }) => [
    t.job,
    shortId(t.taskId),
    String(t.slot),
    t.nodeId ? (nodeNames.get(t.nodeId) ?? shortId(t.nodeId)) : "-",
    formatCpu(s.cpuPercent),
    formatMemory(s.memoryBytes, s.memoryLimitBytes),
    s.memoryLimitBytes ? `${((s.memoryBytes / s.memoryLimitBytes) * 100).toFixed(1)}%` : "-",
    `${formatAge(s.at, now)} ago`,
  ]);
}

export function registerTop(program: Command, io: CliIo): void {
  program
    .command("top")
    .description("show each running task's cpu and memory, busiest first, live on a terminal")
    .argument("[job]", "only this job's tasks")
    .option("--once", "print one table and exit (what a pipe gets anyway)")
    .addOption(new Option("--interval <duration>", "how often to redraw").argParser(durationOption).default(2_000, "2s"))
    .addOption(new Option("--sort <column>", "busiest by").choices(["cpu", "memory"]).default("cpu"))
    .addHelpText(
      "after",
      "\nAgents sample each task every 10 s (agent --stats-interval) and report it in their next heartbeat, so a\nfigure is up to a sampling interval and a heartbeat old: SAMPLED says how old.\nCPU is in percent of one core (200% is two cores busy).\n\nExamples:\n  leasehold top\n  leasehold top web --sort memory\n  leasehold top -n prod --once -o json\n",
    )
    .action(async (job: string | undefined, opts: TopOptions, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const client = ctx.client();
      const read = async () => (await client.taskStats(ctx.namespace, job === undefined ? {} : { job })).tasks;
      const names = await nodeNamesById(client);
      const table = (tasks: TaskSamples[]) => {
        const rows = topRows(tasks, names, opts.sort, Date.now());
        const scope = job === undefined ? `namespace ${ctx.namespace}` : `job ${ctx.namespace}/${job}`;
        return rows.length === 0 ? [`no samples yet for ${scope}: agents report them about every 10 s once tasks run`] : formatTable(HEADERS, rows).trimEnd().split("\n");
      };
      const live = io.stdout.isTTY === true && !opts.once && ctx.output === "table";
      if (!live) {
        const tasks = await read();
        if (ctx.output === "json") return ctx.json({ tasks });
        return ctx.out(table(tasks).join("\n"));
      }
      const block = new InPlaceBlock(io.stdout);
      const stop = interruption(io);
      try {
        while (!stop.signal.aborted) {
          block.draw(table(await read()));
          await sleepUnlessAborted(opts.interval, stop.signal);
        }
      } finally {
        stop.release();
      }
    });
}
