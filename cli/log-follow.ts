// leasehold logs -f: follows a job's task logs through the control plane's event stream (the agents push
// their lines out; nothing dials them). Lines go to stdout as they come, prefixed with the task when there
// are several; notes (waiting for the agent, agent not connected, task stopped) go to stderr. Ctrl-C closes
// the stream, which closes the follow, and the agents stop following. A stream that ends early is opened
// again, from just before the last line seen: lines it repeats are dropped by their timestamps.
import { followMessageSchema, type FollowMessage } from "../api/agent-requests";
import type { Task } from "./api-types";
import { ApiError } from "./client";
import type { SignalSource } from "./commands/agent";
import type { CommandContext } from "./context";
import { shortId } from "./format";
import { sleepUnlessAborted } from "./io";
import { SseParser } from "./sse";

export interface FollowOptions {
  name: string;
  task?: string | undefined;
  tail?: number | undefined;
  sinceMs?: number | undefined;
  timestamps: boolean;
  stderr: boolean;
}

/** How far back a reopened stream reaches before the last line seen: what may have come while it was down. */
const REOPEN_MARGIN_MS = 5_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;
/** The states whose tasks a follow reads (as the control plane chooses them). */
const WITH_LOGS = new Set(["leased", "running", "complete", "failed"]);
/** The timestamp the engine puts before each line when asked (RFC 3339, up to nanoseconds). */
const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z /;

export async function followLogs(ctx: CommandContext, opts: FollowOptions, signals: SignalSource): Promise<void> {
  const client = ctx.client();
  // The job first: its own 404 names it, and its tasks say whether lines need their task in front.
  const job = await client.getJob(ctx.namespace, opts.name);
  const tasks = job.tasks.filter((t: Task) => t.nodeId !== null && WITH_LOGS.has(t.state) && (opts.task === undefined || t.id.startsWith(opts.task)));
  const prefixed = tasks.length > 1;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  signals.on("SIGINT", onSignal);
  signals.on("SIGTERM", onSignal);
  const printer = new LinePrinter(ctx, prefixed, opts.timestamps);
  try {
    let retryMs = RETRY_MIN_MS;
    while (!stop.signal.aborted) {
      try {
        const res = await client.openLogFollow(ctx.namespace, opts.name, query(opts, printer.lastAt), stop.signal);
        retryMs = RETRY_MIN_MS;
        await readEvents(res, stop.signal, (m) => printer.message(m));
        if (stop.signal.aborted) break;
        ctx.note("the log stream ended; opening it again");
      } catch (err) {
        if (stop.signal.aborted) break;
        // Refused (the job is gone, the token lost its role): opening it again would be refused again.
        if (err instanceof ApiError && err.status < 500) throw err;
        ctx.note(`lost the log stream (${err instanceof Error ? err.message : String(err)}); opening it again`);
      }
      await sleepUnlessAborted(retryMs, stop.signal);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    }
  } finally {
    signals.off("SIGINT", onSignal);
    signals.off("SIGTERM", onSignal);
  }
}

/** The stream's query; reopened, it reaches back from the last line seen instead of taking a tail. */
function query(opts: FollowOptions, lastAt: number | null): Record<string, string> {
  const q: Record<string, string> = { timestamps: "1" };
  if (opts.task !== undefined) q["task"] = opts.task;
  if (opts.stderr) q["stderr"] = "1";
  if (lastAt !== null) q["since"] = String(Math.max(1, Date.now() - lastAt + REOPEN_MARGIN_MS));
  else {
    if (opts.tail !== undefined) q["tail"] = String(opts.tail);
    if (opts.sinceMs !== undefined) q["since"] = String(opts.sinceMs);
  }
  return q;
}

async function readEvents(res: Response, signal: AbortSignal, onMessage: (m: FollowMessage) => void): Promise<void> {
  if (!res.body) return;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  const deliver = (data: string) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    // A message of a kind this CLI does not know (a newer control plane) is skipped.
    const m = followMessageSchema.safeParse(parsed);
    if (m.success) onMessage(m.data);
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      for (const m of parser.push(decoder.decode(value, { stream: true }))) deliver(m.data);
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  } finally {
    reader.releaseLock();
  }
}

/** Prints the lines of output messages once each (by timestamp, per task), and status messages as notes. */
class LinePrinter {
  /** When the last output came (this host's clock): a reopened stream reaches back from here. */
  lastAt: number | null = null;
  private readonly lastStamp = new Map<string, string>();

  constructor(
    private readonly ctx: CommandContext,
    private readonly prefixed: boolean,
    private readonly timestamps: boolean,
  ) {}

  message(m: FollowMessage): void {
    const prefix = this.prefixed ? `[${shortId(m.taskId)}] ` : "";
    if (m.type === "status") return this.ctx.note(`${prefix}${m.message}`);
    this.lastAt = Date.now();
    let out = "";
    for (const line of m.text.split("\n").slice(0, -1)) {
      const stamp = STAMP.exec(line);
      if (stamp) {
        const key = `${stamp[1]}.${(stamp[2] ?? "").padEnd(9, "0")}`;
        const last = this.lastStamp.get(m.taskId);
        if (last !== undefined && key <= last) continue;
        this.lastStamp.set(m.taskId, key);
      }
      out += `${prefix}${stamp && !this.timestamps ? line.slice(stamp[0].length) : line}\n`;
    }
    if (out !== "") this.ctx.io.stdout.write(out);
  }
}

