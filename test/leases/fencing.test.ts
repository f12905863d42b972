// The promise under operator actions and faults, with hollow agents and manual clocks: one test per fault
// seen from outside (drain of a cut-off node, a long-poll answered after a fence, a crash between the
// version write and its evaluation, a rolling update, clock skew between instances).
import { afterEach, describe, expect, it } from "vitest";
import { HollowAgent, type Fetcher } from "../../bench/hollow-agent";
import { generateSigningKey } from "../../worker/auth/keys";
import type { Clock } from "../../worker/clock";
import { ManualClock } from "../../worker/clock";
import type { ConfigInput } from "../../worker/config";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";

const FAST: ConfigInput = { heartbeatInterval: "1s", leaseTtl: "3s", sweepInterval: "500ms" };
let planes: TestControlPlane[] = [];

afterEach(() => {
  for (const cp of planes) cp.close();
  planes = [];
});

async function plane(opts: Parameters<typeof createTestControlPlane>[0] = {}): Promise<TestControlPlane> {
  const cp = await createTestControlPlane({ config: FAST, ...opts });
  planes.push(cp);
  return cp;
}

const via = (cp: TestControlPlane): Fetcher => async (path, init) => cp.app.request(path, init);

async function agent(cp: TestControlPlane, name: string, fetcher: Fetcher = via(cp)): Promise<HollowAgent> {
  const token = ((await (await cp.call("POST", "/v1/join-tokens", { body: {} })).json()) as { token: string }).token;
  const a = new HollowAgent(fetcher, name, { cpu: 4000, memory: 8192 });
  await a.enroll(token);
  await a.heartbeat();
  return a;
}

async function apply(cp: TestControlPlane, spec: Record<string, unknown>): Promise<Response> {
  return cp.call("POST", "/v1/jobs", { body: { image: "img", resources: { cpu: 100, memory: 64 }, ...spec } });
}

async function rows(cp: TestControlPlane, jobId = "default/web") {
  const r = await cp.store.client.execute({ sql: "SELECT id, slot, version, node_id, state, desired, epoch, lease_expires_at FROM tasks WHERE job_id = ? ORDER BY slot, version", args: [jobId] });
  return r.rows.map((x) => ({ id: String(x["id"]), slot: Number(x["slot"]), version: Number(x["version"]), node: String(x["node_id"]), state: String(x["state"]), desired: String(x["desired"]), epoch: Number(x["epoch"]), expires: Number(x["lease_expires_at"]) }));
}

/** Copies of each slot the agents believe they run: a lease they hold and have not stopped. */
function copies(agents: HollowAgent[], slotOf: Map<string, number>): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const a of agents) {
    for (const l of a.leases.values()) {
      const slot = slotOf.get(l.taskId);
      if (slot === undefined || l.state !== "running") continue;
      out.set(slot, [...(out.get(slot) ?? []), `${a.name}@${l.epoch}`]);
    }
  }
  return out;
}

describe("drain of a node that has just been cut off", () => {
  it("waits for the lease and its fence window: no other node is granted the task while the cut-off agent may run it", async () => {
    const cp = await plane();
    const a = await agent(cp, "node-a");
    expect((await apply(cp, { name: "web", replicas: 1, disconnect: { policy: "stop", after: "2s" }, stopGrace: "1s" })).status).toBe(200);
    await a.claim();
    await a.heartbeat();
    const b = await agent(cp, "node-b");
    const [held] = await rows(cp);
    // node-a is cut off now: it neither heartbeats nor hears anything. 0.9 s later the operator drains it.
    cp.clock.advance(900);
    expect((await cp.call("POST", "/v1/nodes/node-a/drain", { body: { deadline: "0s" } })).status).toBe(200);
    let tookOver: number | null = null;
    for (let t = 900; t < 20_000; t += 250) {
      cp.clock.advance(250);
      await cp.tick();
      await b.heartbeat();
      await b.claim();
      await cp.settled();
      if (b.leases.size > 0 && tookOver === null) tookOver = cp.clock.now();
    }
    // The cut-off agent was told it may hold the lease until its stored expiry: renewal time + fence window
    // (2 s disconnect + 1 s grace + 5 s margin). Nothing may be granted elsewhere before that.
    expect(tookOver, "the task is never replaced").not.toBeNull();
    expect(tookOver!).toBeGreaterThan(held!.expires);
  });
});

describe("a long-poll claim", () => {
  it("never answers with a lease that was fenced while it waited", async () => {
    const cp = await plane({ config: { heartbeatInterval: "200ms", leaseTtl: "600ms", maxClaimWait: "5s" } });
    const a = await agent(cp, "node-a");
    expect((await apply(cp, { name: "web", replicas: 1 })).status).toBe(200);
    await a.claim();
    const [before] = await rows(cp);
    await agent(cp, "node-b");
    // A poll starts (it holds the epoch-1 lease as its answer), then the node is drained and its agent
    // reports the task stopped.
    const poll = a.claim(5_000);
    await new Promise((r) => setTimeout(r, 50));
    expect((await cp.call("POST", "/v1/nodes/node-a/drain", { body: { deadline: "0s" } })).status).toBe(200);
    await a.heartbeat();
    await a.heartbeat();
    cp.clock.advance(6_000);
    const answer = await poll;
    expect(answer.leases.filter((l) => l.taskId === before!.id && l.epoch === before!.epoch)).toEqual([]);
  });
});

describe("an instance that crashes between a version write and its evaluation", () => {
  it("leaves the evaluation in the store, and another instance runs it once the first one's hold lapses", async () => {
    const first = await plane();
    const second = await plane({ dir: first.dir, keys: first.keys, clock: first.clock });
    const a = await agent(first, "node-a");
    expect((await apply(first, { name: "web", replicas: 2 })).status).toBe(200);
    await a.claim();
    await a.heartbeat();
    // The first instance dies after writing a scale to 4, before it writes the plan.
    const batch = first.store.client.batch.bind(first.store.client);
    first.store.client.batch = (async (...args: Parameters<typeof batch>) => {
      if (JSON.stringify(args[0]).includes("INSERT INTO tasks")) throw new Error("the process died");
      return batch(...args);
    }) as typeof batch;
    expect((await apply(first, { name: "web", replicas: 4 })).status).toBe(500);
    expect((await rows(second)).filter((r) => r.desired === "run")).toHaveLength(2);
    // The other instance's timer: the row is held by the dead instance for its visibility timeout, then taken.
    for (let i = 0; i < 20; i++) {
      second.clock.advance(500);
      await second.tick();
      await a.heartbeat();
    }
    const live = (await rows(second)).filter((r) => r.desired === "run");
    expect(live.map((r) => [r.slot, r.version])).toEqual([[0, 1], [1, 1], [2, 1], [3, 1]]);
  });
});

describe("a rolling update", () => {
  async function roll(order: "stop-first" | "start-first") {
    const cp = await plane();
    // One agent holds every copy: a new copy placed beside its old one shows at once in what it runs.
    const agents = [await agent(cp, "node-a")];
    const spec = { name: "web", replicas: 3, update: { parallelism: 1, order, minHealthy: "0s" } };
    expect((await apply(cp, spec)).status).toBe(200);
    for (const a of agents) await a.claim();
    for (const a of agents) await a.heartbeat();
    expect((await apply(cp, { ...spec, env: { V: "2" } })).status).toBe(200);
    let overlap = 0;
    const look = async () => {
      const slotOf = new Map((await rows(cp)).map((r) => [r.id, r.slot]));
      for (const held of copies(agents, slotOf).values()) if (held.length > 1) overlap++;
    };
    // Only heartbeats and claims from here on: no sweep, no tick. The rollout advances on its own triggers.
    // The agents' copies are looked at after every single request.
    for (let step = 0; step < 60; step++) {
      cp.clock.advance(200);
      for (const a of agents) {
        await a.claim();
        await look();
        await a.heartbeat();
        await cp.settled();
        await look();
      }
    }
    const final = (await rows(cp)).filter((r) => r.desired === "run");
    return { overlap, final };
  }

  it("stop-first (the default): never two copies of a slot, and it completes by itself", async () => {
    const { overlap, final } = await roll("stop-first");
    expect(overlap).toBe(0);
    expect(final.map((r) => [r.slot, r.version, r.state])).toEqual([[0, 2, "running"], [1, 2, "running"], [2, 2, "running"]]);
  });

  it("start-first (the operator's choice): the copies overlap, and it completes by itself", async () => {
    const { overlap, final } = await roll("start-first");
    expect(overlap).toBeGreaterThan(0);
    expect(final.map((r) => [r.slot, r.version, r.state])).toEqual([[0, 2, "running"], [1, 2, "running"], [2, 2, "running"]]);
  });

  it("moves to the next slot only once the new copy has run healthy for update.minHealthy, then by itself", async () => {
    const cp = await plane();
    const a = await agent(cp, "node-a");
    const spec = { name: "web", replicas: 2, update: { parallelism: 1, minHealthy: "2s" } };
    expect((await apply(cp, spec)).status).toBe(200);
    await a.claim();
    await a.heartbeat();
    expect((await apply(cp, { ...spec, env: { V: "2" } })).status).toBe(200);
    let firstRunning: number | null = null;
    let secondStopped: number | null = null;
    // The agent and the instance's timer, every 250 ms.
    for (let step = 0; step < 40; step++) {
      cp.clock.advance(250);
      await a.claim();
      await a.heartbeat();
      await cp.tick();
      await cp.settled();
      const live = await rows(cp);
      if (firstRunning === null && live.some((r) => r.version === 2 && r.state === "running")) firstRunning = cp.clock.now();
      if (secondStopped === null && live.filter((r) => r.version === 1 && r.desired === "stop").length === 2) secondStopped = cp.clock.now();
    }
    expect((await rows(cp)).filter((r) => r.desired === "run").map((r) => [r.version, r.state])).toEqual([[2, "running"], [2, "running"]]);
    // The second slot's old copy is stopped no sooner than 2 s after the first new copy ran healthy, and
    // soon after (the timer takes the evaluation that came due).
    expect(firstRunning).not.toBeNull();
    expect(secondStopped! - firstRunning!).toBeGreaterThanOrEqual(2_000);
    expect(secondStopped! - firstRunning!).toBeLessThan(3_500);
  });

  it("refuses start-first for a job whose disconnect policy is stop, naming the field", async () => {
    const cp = await plane();
    const res = await apply(cp, { name: "web", disconnect: { policy: "stop" }, update: { order: "start-first" } });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain("update.order");
  });
});

/** An instance clock that runs `skewMs` off another. */
class SkewedClock implements Clock {
  constructor(private readonly base: ManualClock, private readonly skewMs: number) {}
  now(): number {
    return this.base.now() + this.skewMs;
  }
}

describe("clock skew between instances", () => {
  for (const skew of [2_000, 2_500, -2_500]) {
    it(`loses nothing with two instances ${Math.abs(skew)} ms apart, both serving heartbeats and sweeping`, async () => {
      const base = new ManualClock(Date.UTC(2026, 0, 1));
      const keys = (await generateSigningKey()).keys;
      const first = await plane({ keys, clock: base });
      const second = await plane({ dir: first.dir, keys, clock: new SkewedClock(base, skew) as unknown as ManualClock });
      // Each agent's requests alternate between the two instances, as behind a load balancer.
      let turn = 0;
      const either: Fetcher = async (path, init) => (turn++ % 2 === 0 ? first : second).app.request(path, init);
      const fleet = [await agent(first, "node-a", either), await agent(first, "node-b", either)];
      expect((await apply(first, { name: "web", replicas: 6 })).status).toBe(200);
      for (const a of fleet) await a.claim();
      // 20 s in steps of 100 ms: every agent heartbeats once a second, both instances sweep every step.
      for (let step = 0; step < 200; step++) {
        base.advance(100);
        if (step % 10 === 0) for (const a of fleet) await a.heartbeat();
        await first.tick();
        await second.tick();
      }
      const events = await first.store.client.execute("SELECT type, message FROM events WHERE type IN ('task.lost', 'task.replaced')");
      expect(events.rows).toEqual([]);
      expect(fleet.flatMap((a) => a.revocations).map((r) => `${r.reason}: ${r.detail}`)).toEqual([]);
      expect((await rows(first)).map((r) => r.state)).toEqual(Array.from({ length: 6 }, () => "running"));
    });
  }
});
