// A fleet of hollow agents driven like real agents: enroll, then a heartbeat loop and a long-poll claim loop each,
// counting every request they make and recording heartbeat latencies.
import { Agent, fetch as undiciFetch } from "undici";
import { createBackoff } from "../agent/backoff";
import { HollowAgent, type Fetcher } from "./hollow-agent";
import { mapLimit, sleep } from "./stats";

export interface FleetCounters {
  enroll: number;
  claim: number;
  heartbeat: number;
  /** Requests that failed (HTTP error or network error). */
  failed: number;
}

export interface FleetMember {
  agent: HollowAgent;
  /** Aborts this agent's in-flight requests when it is stopped. */
  abort: AbortController;
  stopped: boolean;
  /** Wakes the heartbeat loop early (after a claim brought new leases). */
  wake: (() => void) | null;
  /** A wake asked for while no heartbeat was waiting: the next wait is skipped. */
  wakePending: boolean;
  /** When this agent's last heartbeat was answered with 200 (performance.now() ms; 0 before the first). */
  lastHeartbeatOkAt: number;
}

/**
 * One pool per fleet process, keeping connections open between heartbeats as the control plane allows (its
 * keep-alive hint is 65 s; without a hint, a pool closes idle connections after 4 s), and waiting longer to
 * connect than the default 10 s, as a loaded control plane accepts late.
 */
const dispatcher = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000, connect: { timeout: 30_000 } });

/** Monotonic time, ms. */
export const now = (): number => performance.now();

export class HollowFleet {
  readonly members: FleetMember[] = [];
  readonly counters: FleetCounters = { enroll: 0, claim: 0, heartbeat: 0, failed: 0 };
  /** Failed requests by kind and reason ("heartbeat: HTTP 401", "claim: ECONNRESET"). */
  readonly failures = new Map<string, number>();
  /** Heartbeat latencies (ms) while `recording` is set. */
  readonly heartbeatLatencies: number[] = [];
  recording = false;
  private readonly loops: Promise<void>[] = [];
  private readonly started = new Set<FleetMember>();
  private running = false;

  /** Heartbeats in flight: start times, to count the ones still unanswered when a measurement ends. */
  private readonly inFlight = new Map<number, number>();
  private nextRequestId = 0;

  /** The control plane's URL. */
  constructor(readonly baseUrl: string) {}

  /** A per-agent fetcher: counts requests by path, times heartbeats, and aborts when the agent stops. */
  private fetcherFor(member: () => FleetMember): Fetcher {
    return async (path, init) => {
      const started = now();
      const kind = path.endsWith("/heartbeat") ? "heartbeat" : path.endsWith("/claim") ? "claim" : "enroll";
      this.counters[kind]++;
      const id = this.nextRequestId++;
      if (kind === "heartbeat") this.inFlight.set(id, started);
      try {
        const res = (await undiciFetch(new URL(path, this.baseUrl), {
          method: init.method ?? "GET",
          headers: init.headers as Record<string, string>,
          body: init.body as string,
          signal: member().abort.signal,
          dispatcher,
        })) as unknown as Response;
        if (!res.ok) this.fail(`${kind}: HTTP ${res.status}`);
        else if (kind === "heartbeat") member().lastHeartbeatOkAt = now();
        if (kind === "heartbeat" && this.recording) {
          // The latency includes reading the body, as the agent needs it to act on the reply.
          const clone = res.clone();
          await clone.arrayBuffer();
          this.heartbeatLatencies.push(now() - started);
        }
        return res;
      } catch (err) {
        if (!member().stopped) this.fail(`${kind}: ${reasonOf(err)}`);
        throw err;
      } finally {
        this.inFlight.delete(id);
      }
    };
  }

  private fail(reason: string): void {
    this.counters.failed++;
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
  }

  /** The most frequent failure reasons, "reason ×count", most frequent first. */
  failureSummary(top = 4): string {
    return [...this.failures.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([reason, n]) => `${reason} ×${n}`)
      .join(", ");
  }

  /** Enrolls `count` agents named `<prefix>-<i>` and heartbeats each once, so that the nodes are ready for placements. */
  async enroll(
    joinToken: string,
    count: number,
    prefix: string,
    opts: { cpu?: number; memory?: number; concurrency?: number; deadline?: number; startHeartbeats?: boolean } = {},
  ): Promise<void> {
    const created: FleetMember[] = [];
    for (let i = 0; i < count; i++) {
      let member: FleetMember | undefined;
      const agent = new HollowAgent(this.fetcherFor(() => member as FleetMember), `${prefix}-${i}`, {
        region: "global",
        labels: {},
        ...(opts.cpu === undefined ? {} : { cpu: opts.cpu }),
        ...(opts.memory === undefined ? {} : { memory: opts.memory }),
      });
      member = { agent, abort: new AbortController(), stopped: false, wake: null, wakePending: false, lastHeartbeatOkAt: 0 };
      created.push(member);
    }
    // Each joins the fleet as soon as it is enrolled (keepAlive sees it); past the deadline, the rest never join.
    await mapLimit(created, opts.concurrency ?? 16, async (m) => {
      if (opts.deadline !== undefined && Date.now() > opts.deadline) return;
      await m.agent.enroll(joinToken);
      await m.agent.heartbeat();
      this.members.push(m);
      // As a real agent does: heartbeats begin at enrollment, whatever else the set-up is doing.
      if (opts.startHeartbeats) this.startMember(m, { claimLoop: false });
    });
  }

  /**
   * Heartbeats every member in turn, each about once per `periodMs`, until stopped, as agents would while a long
   * set-up runs: the control plane places only onto nodes that heartbeat recently.
   */
  keepAlive(periodMs: number, concurrency = 2): { stop(): Promise<void> } {
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const round = Date.now();
        await mapLimit([...this.members], concurrency, async (m) => {
          if (!stopped) await m.agent.heartbeat().catch(() => undefined);
        });
        while (!stopped && Date.now() - round < periodMs) await sleep(Math.min(200, periodMs));
      }
    })();
    return {
      async stop() {
        stopped = true;
        await loop;
      },
    };
  }

  /** Claims once for every agent (no waiting), so each holds the leases placed on it; stops at `deadline` (ms since the epoch). */
  async claimAll(concurrency = 16, deadline = Number.POSITIVE_INFINITY): Promise<number> {
    let claimed = 0;
    await mapLimit(this.members, concurrency, async (m) => {
      // A failed claim is retried with the agent's backoff, as the real agent would, until the deadline.
      const backoff = createBackoff({ baseMs: 500, maxMs: 10_000 });
      for (let attempt = 1; Date.now() <= deadline; attempt++) {
        try {
          await m.agent.claim(0);
          claimed++;
          return;
        } catch (err) {
          if (attempt >= 8) throw err;
          await sleep(backoff.next());
        }
      }
    });
    return claimed;
  }

  /** Heartbeats once for every agent (reports new leases as running). */
  async heartbeatAll(concurrency = 16): Promise<void> {
    await mapLimit(this.members, concurrency, async (m) => {
      await m.agent.heartbeat();
    });
  }

  /** Starts one agent's heartbeat loop, and its claim loop unless `claimLoop` is false. */
  startMember(m: FleetMember, opts: { claimLoop: boolean; claimWaitMs?: number }): void {
    if (this.started.has(m)) return;
    this.running = true;
    this.started.add(m);
    this.loops.push(this.heartbeatLoop(m));
    if (opts.claimLoop) this.loops.push(this.claimLoop(m, opts.claimWaitMs ?? 20_000));
  }

  // Both loops retry failures with the real agent's backoff (500 ms doubling to 30 s, jittered).
  private async heartbeatLoop(m: FleetMember): Promise<void> {
    const backoff = createBackoff({ baseMs: 500, maxMs: 30_000 });
    await this.pause(m, Math.random() * m.agent.heartbeatIntervalMs);
    while (this.running && !m.stopped) {
      try {
        await m.agent.heartbeat();
        backoff.reset();
        await this.pause(m, m.agent.heartbeatIntervalMs * (0.9 + 0.1 * Math.random()));
      } catch {
        await this.pause(m, backoff.next());
      }
    }
  }

  private async claimLoop(m: FleetMember, waitMs: number): Promise<void> {
    const backoff = createBackoff({ baseMs: 500, maxMs: 30_000 });
    while (this.running && !m.stopped) {
      try {
        const before = new Set([...m.agent.leases.values()].map((l) => `${l.taskId}:${l.epoch}`));
        const reply = await m.agent.claim(waitMs);
        backoff.reset();
        if (reply.leases.some((g) => !before.has(`${g.taskId}:${g.epoch}`))) {
          // A heartbeat in flight may have left before these leases arrived: ask for one more right after it.
          m.wakePending = true;
          m.wake?.();
        }
      } catch {
        await this.pause(m, backoff.next(), false);
      }
    }
  }

  /** Sleeps, but wakes early when the agent is stopped or, if `wakeable`, told to (new leases). */
  private pause(m: FleetMember, ms: number, wakeable = true): Promise<void> {
    return new Promise((done) => {
      const signal = m.abort.signal;
      const timer = setTimeout(finish, ms);
      function finish(): void {
        clearTimeout(timer);
        signal.removeEventListener("abort", finish);
        if (m.wake === finish) {
          m.wake = null;
          m.wakePending = false;
        }
        done();
      }
      if (signal.aborted) return finish();
      if (wakeable && m.wakePending) {
        m.wakePending = false;
        return finish();
      }
      if (wakeable) m.wake = finish;
      signal.addEventListener("abort", finish, { once: true });
    });
  }

  /** Stops agents as if their hosts vanished: no more heartbeats or claims; they keep the leases they held. */
  stopMembers(members: readonly FleetMember[]): void {
    for (const m of members) {
      m.stopped = true;
      m.abort.abort();
    }
  }

  /** Stops every loop and waits for them to end. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopMembers(this.members);
    await Promise.allSettled(this.loops);
  }

  /** Ages (ms) of heartbeats sent but not yet answered: lower bounds of their latencies. */
  unansweredHeartbeatAges(): number[] {
    const t = now();
    return [...this.inFlight.values()].map((started) => t - started);
  }

  revocations(): number {
    return this.members.reduce((n, m) => n + m.agent.revocations.length, 0);
  }
}

/** A network error's code (ECONNRESET, UND_ERR_SOCKET, …) or message. */
function reasonOf(err: unknown): string {
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === "string") return cause.code;
  if (cause && typeof cause.message === "string") return cause.message.slice(0, 60);
  return err instanceof Error ? `${err.name}: ${err.message.slice(0, 60)}` : String(err);
}
