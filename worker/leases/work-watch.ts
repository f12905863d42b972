// The work watch: wakes the claims waiting on this instance when the store shows new work for their
// nodes, whichever instance wrote it (in-process wake-ups, WorkSignal, are only the fast path).
//
// Each node's marker (nodes.work_seq) takes the next value of one store-wide sequence in the transaction
// that places a task on it or asks a copy it holds to stop. A waiting claim gives the sequence's top as
// its read saw it; the watch wakes it once its node's marker is above that. While claims wait, the watch
// makes ONE read per interval for all of them: the nodes among theirs whose marker moved (a primary-key
// read each when they are few, else one range of the work_seq index above the lowest cursor, whose size is
// the work that happened, not the number of claims). With no claim waiting it reads nothing.
import type { Client } from "@libsql/client";
import { movedAmong, movedMarkers, movedSince, MOVED_LIMIT } from "../../db/queries/work-marker";
import type { Logger } from "../context";

/** Up to this many waiting nodes are read by primary key; more, by the range of moved markers. */
const BY_ID_UP_TO = 64;

interface Waiter {
  /** Wake when the node's marker is above this. */
  since: number;
  wake: () => void;
}

export class WorkWatch {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private reading = false;

  constructor(
    private readonly client: Client,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** Resolves when the node's marker is seen above `since`; never, if `abort` fires first (it then resolves too). */
  wait(nodeId: string, since: number, abort: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (abort.aborted) return resolve();
      let set = this.waiters.get(nodeId);
      if (!set) this.waiters.set(nodeId, (set = new Set()));
      const waiter: Waiter = {
        since,
        wake: () => {
          abort.removeEventListener("abort", waiter.wake);
          set.delete(waiter);
          if (set.size === 0 && this.waiters.get(nodeId) === set) this.waiters.delete(nodeId);
          resolve();
        },
      };
      set.add(waiter);
      abort.addEventListener("abort", waiter.wake, { once: true });
      this.schedule();
    });
  }

  /** How many claims wait here (for tests and metrics). */
  get waiting(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }

  private schedule(): void {
    if (this.timer || this.reading || this.waiters.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.read();
    }, this.intervalMs);
  }

  private async read(): Promise<void> {
    if (this.waiters.size === 0) return;
    this.reading = true;
    let more = false;
    try {
      const nodes = [...this.waiters.keys()];
      let since = Number.POSITIVE_INFINITY;
      for (const set of this.waiters.values()) for (const w of set) since = Math.min(since, w.since);
      const byId = nodes.length <= BY_ID_UP_TO;
      const moved = movedMarkers(await this.client.execute(byId ? movedAmong(nodes, since) : movedSince(since)));
      for (const [nodeId, seq] of moved) {
        for (const w of [...(this.waiters.get(nodeId) ?? [])]) if (seq > w.since) w.wake();
      }
      if (!byId && moved.length > 0) {
        // Every marker in (since, top] was read: the claims still waiting have seen up to top, so the next
        // read starts there instead of reading the same moves again. A full page leaves the rest to read now.
        const top = moved[moved.length - 1]![1];
        for (const set of this.waiters.values()) for (const w of set) w.since = Math.max(w.since, top);
        more = moved.length >= MOVED_LIMIT;
      }
    } catch (err) {
      // The next read covers the same cursors: nothing is lost, only delayed.
      this.log("work watch read failed", { error: err instanceof Error ? err.message : String(err) }, "warn");
    } finally {
      this.reading = false;
    }
    if (more) void this.read();
    else this.schedule();
  }
}
