// Control-plane instances of a run: each is the real app over its own libSQL client on the shared file,
// with its own skewed clock, seeded ids and a client that can crash it.
import { openDatabase } from "../../db/client";
import { createStore } from "../../db/store";
import { createControlPlane, type ControlPlane } from "../../worker/app";
import type { SigningKeys } from "../../worker/auth/keys";
import type { Clock } from "../../worker/clock";
import type { Config } from "../../worker/config";
import { faultyClient, type CrashPlan, type FaultyClient } from "./store-faults";
import type { Rng } from "./rng";

/** Virtual time: one source for the whole run; only the simulator moves it. */
export class VirtualTime {
  now = Date.UTC(2026, 0, 1);
}

/** An instance's clock: virtual time plus that instance's skew. */
export class SkewedClock implements Clock {
  skewMs = 0;
  constructor(private readonly time: VirtualTime) {}
  now(): number {
    return this.time.now + this.skewMs;
  }
}

export interface Reply {
  status: number;
  body: unknown;
}

export class Instance {
  crashed = false;
  crashNote = "";

  private constructor(
    readonly name: string,
    readonly cp: ControlPlane,
    readonly clock: SkewedClock,
    private readonly faulty: FaultyClient,
  ) {
    faulty.onCrash((call, method, mode) => {
      this.crashed = true;
      this.crashNote = `crashed at store call ${call} (${method}, ${mode === "before" ? "not written" : "written, reply lost"})`;
    });
  }

  static async open(opts: {
    name: string;
    dataDir: string;
    keys: SigningKeys;
    config: Config;
    time: VirtualTime;
    skewMs: number;
    ids: Rng;
    logs: string[];
    /** A claim waits (long-polls): virtual time passes instead of real time, so the wait ends. */
    onWait: (instance: string, nodeId: string, ms: number) => void;
  }): Promise<Instance> {
    const faulty = faultyClient(await openDatabase({ dataDir: opts.dataDir }));
    const clock = new SkewedClock(opts.time);
    clock.skewMs = opts.skewMs;
    const cp = createControlPlane({
      store: createStore(faulty.client),
      keys: opts.keys,
      clock,
      config: opts.config,
      // Control-plane logs go to the run's log, never stderr: a soak prints only what it means to.
      log: (message, fields) => void opts.logs.push(`${opts.name}: ${message} ${fields ? JSON.stringify(fields) : ""}`),
      newId: () => opts.ids.uuid(),
      // Claims are sent with waitMs 0; a wait anyway would otherwise sleep on a real timer forever, since
      // virtual time stands still during a request.
      signal: { notify: () => undefined, wait: async (nodeId, ms) => opts.onWait(opts.name, nodeId, ms) },
    });
    return new Instance(opts.name, cp, clock, faulty);
  }

  get calls(): number {
    return this.faulty.calls();
  }

  /** Whether a crash is set to happen (counts as down when choosing the next one to crash). */
  armed = false;

  arm(plan: CrashPlan | null): void {
    this.armed = plan !== null;
    this.faulty.arm(plan);
  }

  /** One request through the app, and every piece of background work it started; null if the instance died. */
  async request(method: string, path: string, token: string | null, body?: unknown): Promise<Reply | null> {
    if (this.crashed) return null;
    const headers: Record<string, string> = {};
    if (token) headers["authorization"] = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let reply: Reply | null;
    try {
      const res = await this.cp.app.request(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const text = await res.text();
      reply = { status: res.status, body: text.length > 0 ? (JSON.parse(text) as unknown) : null };
    } catch {
      reply = null;
    }
    await this.cp.settled();
    // A process that died mid-request sends nothing back, whatever the handler returned.
    return this.crashed ? null : reply;
  }

  async tick(): Promise<void> {
    if (this.crashed) return;
    await this.cp.tick().catch(() => undefined);
    await this.cp.settled();
  }

  /** Closes the client after a crash (its background work has settled by then). */
  close(): void {
    this.faulty.client.close();
  }
}
