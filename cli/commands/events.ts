// leasehold events: the fleet's events from GET /v1/events, oldest first; with -f, then every new one as it
// happens, through a stream that resumes after the last event it printed when it is cut. Without -n, the
// whole fleet's (node events included: a fleet-wide viewer's token); with -n, that namespace's.
import { Option, type Command } from "commander";
import { EVENT_TYPES_PATTERN, EVENT_TYPES_RULE, EVENTS_LIMIT_MAX, type FleetEvent } from "../../api/events";
import type { EventQuery } from "../client";
import { commandContext, type CommandContext } from "../context";
import { followEvents } from "../event-follow";
import { dash, formatTable, formatUtc, oneLine, shortId } from "../format";
import { CliError, interruption, type CliIo } from "../io";
import { intOption } from "../options";

interface EventsOptions {
  follow?: boolean;
  job?: string;
  type?: string;
  limit: number;
}

const HEADERS = ["TIME", "TYPE", "JOB", "TASK", "MESSAGE"];

function row(e: FleetEvent): string[] {
  return [formatUtc(e.at), e.type, e.namespace === null ? "-" : `${e.namespace}/${dash(e.job)}`, e.taskId === null ? (e.nodeId === null ? "-" : `node ${shortId(e.nodeId)}`) : shortId(e.taskId), oneLine(e.message)];
}

/** One event as a line: followed events come one at a time, so they cannot share a table's widths. */
const line = (e: FleetEvent) => row(e).join("  ");

export function registerEvents(program: Command, io: CliIo): void {
  program
    .command("events")
    .description("list the fleet's recent events, oldest first; -f keeps printing new ones as they happen")
    .option("-f, --follow", "after the recent events, print each new one as it happens, until interrupted")
    .option("--job <name>", "only this job's events (in the namespace of -n)")
    .option("--type <types>", 'only these types: comma-separated, a type or a prefix ending in "." (task.lost,deployment.)')
    .addOption(new Option("--limit <n>", "how many recent events to print first").argParser(intOption(0, EVENTS_LIMIT_MAX)).default(20))
    .addHelpText(
      "after",
      "\nExamples:\n  leasehold events -f\n  leasehold events -n prod --job api --type task.,deployment. -f\n  leasehold events --type task.lost --limit 100 -o json\n\n" +
        "-n NAMESPACE reads that namespace's events only; without it, the whole fleet's (a fleet-wide viewer's token).\n" +
        "With -o json each event is one line of JSON, followed ones included.\n",
    )
    .action(async (opts: EventsOptions, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      if (opts.type !== undefined && !EVENT_TYPES_PATTERN.test(opts.type)) throw new CliError(`--type ${opts.type}: ${EVENT_TYPES_RULE}`);
      const query: EventQuery = {
        ...(ctx.namespaceGiven || opts.job !== undefined ? { namespace: ctx.namespace } : {}),
        ...(opts.job !== undefined ? { job: opts.job } : {}),
        ...(opts.type !== undefined ? { type: opts.type } : {}),
      };
      const client = ctx.client();
      const recent = await client.events({ ...query, limit: Math.max(opts.limit, 1) });
      const shown = opts.limit === 0 ? [] : recent.events;
      print(ctx, shown, !opts.follow);
      if (!opts.follow) return;
      const stop = interruption(io);
      try {
        const stream = followEvents(client, query, {
          after: recent.index,
          signal: stop.signal,
          onRetry: (why, delayMs) => ctx.note(`event stream lost (${why}); reconnecting in ${(delayMs / 1000).toFixed(1)}s`),
        });
        for await (const e of stream) print(ctx, [e], false);
      } finally {
        stop.release();
      }
    });
}

/** A table for a list that ends; lines for the followed, which never does. */
function print(ctx: CommandContext, events: FleetEvent[], table: boolean): void {
  if (ctx.output === "json") {
    for (const e of events) ctx.out(JSON.stringify(e));
    return;
  }
  if (table) {
    if (events.length === 0) ctx.out("no events match");
    else ctx.out(formatTable(HEADERS, events.map(row)));
    return;
  }
  for (const e of events) ctx.out(line(e));
}
