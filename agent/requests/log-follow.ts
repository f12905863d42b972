// One log follow on the agent: `docker logs --follow` of the task's container, its lines sent to the control
// plane as numbered chunks (one in flight at a time, at most every flushMs), across restarts of the task's
// container, until the task stops here or the control plane says the follow is over (its client went away).
import type { FollowOrder } from "../../api/agent-requests";
import { MAX_CHUNK_BYTES, MAX_TAIL_LINES } from "../../api/agent-requests";
import { ControlPlaneError, type ControlPlaneClient } from "../client";
import { errorText, type Logger } from "../log";
import type { ContainerRuntime, LogFollow, LogOptions } from "../runtime";
import { ChunkQueue, type Chunk } from "./chunk-queue";

export interface FollowDeps {
  runtime: ContainerRuntime;
  client: ControlPlaneClient;
  credential(): string;
  /** The container holding the task's log now: its running one, else its newest exited one. */
  containerOf(taskId: string): Promise<string | null>;
  /** Whether this agent still runs the task (its container may be started again). */
  holds(taskId: string): boolean;
  log: Logger;
  /** How often lines are sent (default 300 ms). */
  flushMs?: number;
}

/** A line without its newline is sent as one after this long. */
const PARTIAL_LINE_MS = 1_000;
/** How often a task whose container exited is looked at for its next one. */
const RESTART_POLL_MS = 1_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5_000;

export class LogFollower {
  private readonly queue = new ChunkQueue({ maxLineChars: 8_192, maxHeldBytes: 1_048_576 });
  private seq: number;
  private stopped: string | null = null;
  private current: LogFollow | null = null;
  private readonly wakers = new Set<() => void>();
  /** Resolves once the follower has stopped, its last chunk sent or given up on. */
  readonly done: Promise<void>;

  constructor(
    private readonly deps: FollowDeps,
    readonly order: FollowOrder,
  ) {
    this.seq = order.nextSeq;
    this.done = Promise.all([this.follow(), this.pump()]).then(() => undefined);
  }

  /** Stops following (the follow is over, or the agent stops); said in the agent's log once. */
  stop(reason: string): void {
    if (this.stopped !== null) return;
    this.stopped = reason;
    this.current?.close();
    for (const wake of [...this.wakers]) wake();
    this.deps.log.info("stopped following task logs", { follow: this.order.id, task: this.order.taskId, reason });
  }

  get active(): boolean {
    return this.stopped === null;
  }

  /** Follows the task's containers one after another; queues the closing note when the task is gone. */
  private async follow(): Promise<void> {
    const { taskId } = this.order;
    // A follow taken up again (this agent restarted) goes on from now: its earlier lines were sent before.
    const resumed = this.order.nextSeq > 0;
    let selection: LogOptions = resumed ? { tail: 0, ...streamOf(this.order) } : { tail: this.order.tail, ...pick(this.order) };
    let id = await this.deps.containerOf(taskId).catch(() => null);
    if (!id) return this.queue.note("the task has no container on this node", true);
    this.deps.log.info("following task logs", { follow: this.order.id, task: taskId, container: id.slice(0, 12), ...(resumed ? { resumed: true } : {}) });
    this.queue.note(resumed ? "the agent restarted and follows on: lines written meanwhile may be missing" : `the agent follows container ${id.slice(0, 12)}`);
    while (this.stopped === null) {
      const ended = await this.followContainer(id, selection);
      if (this.stopped !== null) return;
      this.queue.flushPartials();
      if (ended) this.queue.note(`could not read the container's log: ${ended}`);
      const next = await this.nextContainer(id);
      if (next === null) return this.queue.note("task stopped", true);
      this.queue.note("the task's container restarted");
      // The new container's log from its start.
      id = next;
      selection = { tail: MAX_TAIL_LINES, ...streamOf(this.order) };
    }
  }

  /** Resolves when the engine's stream ends: with why, if it failed. */
  private async followContainer(id: string, selection: LogOptions): Promise<string | null> {
    let ended!: (why: string | null) => void;
    const result = new Promise<string | null>((resolve) => (ended = resolve));
    try {
      this.current = await this.deps.runtime.followLogs(id, {
        ...selection,
        onOutput: (stream, data) => this.queue.push(stream, data, Date.now()),
        onEnd: (error) => ended(error ? errorText(error) : null),
      });
    } catch (err) {
      return errorText(err);
    }
    if (this.stopped !== null) this.current.close();
    return result;
  }

  /** The task's next container once the one followed has stopped, or null once the task is no longer here. */
  private async nextContainer(previous: string): Promise<string | null> {
    while (this.stopped === null && this.deps.holds(this.order.taskId)) {
      const id = await this.deps.containerOf(this.order.taskId).catch(() => null);
      if (id && id !== previous) return id;
      await this.pause(RESTART_POLL_MS);
    }
    return null;
  }

  /** Sends what is queued, at most every flushMs, until the closing chunk is sent or the follow is over. */
  private async pump(): Promise<void> {
    const flushMs = this.deps.flushMs ?? 300;
    while (this.stopped === null) {
      await this.pause(flushMs);
      if (this.queue.partialSince !== null && Date.now() - this.queue.partialSince >= PARTIAL_LINE_MS) this.queue.flushPartials();
      for (let chunk = this.queue.take(MAX_CHUNK_BYTES); chunk && this.stopped === null; chunk = this.queue.take(MAX_CHUNK_BYTES)) {
        await this.send(chunk);
        if (chunk.ended) return this.stop(chunk.status ?? "ended");
      }
    }
  }

  /** One chunk, retried until it is taken or refused: a refusal ends the follow. */
  private async send(chunk: Chunk): Promise<void> {
    let retryMs = RETRY_MIN_MS;
    let uncertain = false;
    while (this.stopped === null) {
      try {
        await this.deps.client.sendFollowChunk(this.deps.credential(), this.order.id, { seq: this.seq, ...chunk });
        this.seq += 1;
        return;
      } catch (err) {
        const status = err instanceof ControlPlaneError ? err.status : 0;
        // A retry refused as out of sequence: the first attempt was stored, only its answer was lost.
        if (status === 409 && uncertain) {
          this.seq += 1;
          return;
        }
        if (status > 0 && status < 500) return this.stop(status === 410 ? "the follow is over (its viewer went away)" : `the control plane refused a chunk: ${errorText(err)}`);
        uncertain = true;
        await this.pause(retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
    }
  }

  /** Waits `ms`, or until the follower stops. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }
}

/** The order's options but its tail. */
function pick(o: FollowOrder): Omit<LogOptions, "tail"> {
  return { ...(o.sinceMs !== undefined ? { sinceMs: o.sinceMs } : {}), ...streamOf(o) };
}

/** How lines look (timestamps) and which stream: kept for every container of the follow. */
function streamOf(o: FollowOrder): Omit<LogOptions, "tail" | "sinceMs"> {
  return { ...(o.timestamps ? { timestamps: true } : {}), ...(o.stream ? { stream: o.stream } : {}) };
}
