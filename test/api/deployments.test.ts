// Deployments through the API, with hollow agents and the control plane's manual clock: a deployment per
// new version, health-gated progress, canaries and promote, pause and resume, fail, auto-revert, offline
// hosts as pending, waves per region, and the deadlines.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HollowAgent, type Fetcher } from "../../bench/hollow-agent";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";

let cp: TestControlPlane;
const fetcher: Fetcher = async (path, init) => cp.app.request(path, init);

beforeEach(async () => {
  cp = await createTestControlPlane();
});
afterEach(() => cp.close());

const SPEC = { name: "web", image: "img:1", replicas: 4, resources: { cpu: 100, memory: 64 }, update: { parallelism: 1, minHealthy: "0s" } };

interface Detail {
  id: string;
  version: number;
  fromVersion: number | null;
  status: string;
  description: string;
  promoted: boolean;
  wave: string | null;
  revertOf: string | null;
  counts: { desired: number; canaries: number; placed: number; healthy: number; old: number; offline: number };
  slots: { slot: number; canary: boolean; healthy: boolean; oldVersion: number | null; offline: boolean; region: string | null }[];
  events: { type: string; message: string }[];
}

async function apply(spec: Record<string, unknown> = {}) {
  const res = await cp.call("POST", "/v1/jobs", { body: { ...SPEC, ...spec } });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { job: { version: number } };
}

async function deployment(): Promise<Detail> {
  const res = await cp.call("GET", "/v1/namespaces/default/jobs/web/deployment");
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Detail;
}

async function act(id: string, action: string, body?: unknown) {
  return cp.call("POST", `/v1/namespaces/default/deployments/${id}/${action}`, body === undefined ? {} : { body });
}

async function agents(...specs: { name: string; region?: string }[]): Promise<HollowAgent[]> {
  const { token } = (await (await cp.call("POST", "/v1/join-tokens", { body: {} })).json()) as { token: string };
  const out: HollowAgent[] = [];
  for (const s of specs) {
    const a = new HollowAgent(fetcher, s.name, { ...(s.region ? { region: s.region } : {}) });
    await a.enroll(token);
    await a.heartbeat();
    out.push(a);
  }
  await cp.settled();
  return out;
}

/** Versions of the slots' desired-run rows, by slot. */
async function versions(): Promise<Record<number, number>> {
  const r = await cp.store.client.execute("SELECT slot, version FROM tasks WHERE desired = 'run' ORDER BY slot");
  return Object.fromEntries(r.rows.map((x) => [Number(x["slot"]), Number(x["version"])]));
}

async function taskIdsOf(version: number): Promise<Set<string>> {
  const r = await cp.store.client.execute({ sql: "SELECT id FROM tasks WHERE version = ?", args: [version] });
  return new Set(r.rows.map((x) => String(x["id"])));
}

/**
 * One round of the fleet: every agent claims and heartbeats, then time moves on. `mutate` may change what
 * an agent reports before its heartbeat (a task failing, one never turning healthy).
 */
async function round(fleet: HollowAgent[], opts: { advance?: number; mutate?: (a: HollowAgent) => Promise<void> | void } = {}): Promise<void> {
  for (const a of fleet) {
    await a.claim();
    if (opts.mutate) await opts.mutate(a);
    await a.heartbeat();
  }
  await cp.settled();
  cp.clock.advance(opts.advance ?? 1_000);
  await cp.evaluator.sweep();
  await cp.settled();
}

async function until(fleet: HollowAgent[], done: (d: Detail) => boolean, opts: Parameters<typeof round>[1] & { rounds?: number } = {}): Promise<Detail> {
  for (let i = 0; i < (opts.rounds ?? 40); i++) {
    await round(fleet, opts);
    const d = await deployment();
    if (done(d)) return d;
  }
  throw new Error(`deployment did not get there: ${JSON.stringify(await deployment())}`);
}

describe("a deployment per version", () => {
  it("rolls a new version slot by slot and ends successful; the first version's deployment ended before it", async () => {
    const fleet = await agents({ name: "a" }, { name: "b" });
    await apply();
    const first = await until(fleet, (d) => d.status === "successful");
    expect(first).toMatchObject({ version: 1, fromVersion: null, counts: { desired: 4, healthy: 4 } });

    await apply({ image: "img:2" });
    const second = await deployment();
    expect(second).toMatchObject({ version: 2, fromVersion: 1, status: "running" });
    // Parallelism 1, stop-first: never more than one slot away from a healthy copy.
    let maxInFlight = 0;
    const done = await until(fleet, (d) => {
      maxInFlight = Math.max(maxInFlight, d.slots.filter((s) => !s.healthy && s.oldVersion === null).length);
      return d.status === "successful";
    });
    expect(maxInFlight).toBe(1);
    expect(done.counts).toMatchObject({ desired: 4, healthy: 4, old: 0 });
    expect(Object.values(await versions())).toEqual([2, 2, 2, 2]);
    expect(done.events.map((e) => e.type)).toEqual(["deployment.started", "deployment.successful"]);
    const list = (await (await cp.call("GET", "/v1/namespaces/default/deployments?job=web")).json()) as { deployments: { version: number; status: string }[] };
    expect(list.deployments.map((d) => [d.version, d.status])).toEqual([
      [2, "successful"],
      [1, "successful"],
    ]);
  });

  it("a new version supersedes a running deployment: the old one is cancelled", async () => {
    await agents({ name: "a" });
    await apply();
    const first = await deployment();
    await apply({ image: "img:2" });
    const res = await cp.call("GET", `/v1/namespaces/default/deployments/${first.id.slice(0, 8)}`);
    expect(await res.json()).toMatchObject({ id: first.id, status: "cancelled", description: "superseded by version 2" });
  });

  it("a scale writes no deployment", async () => {
    const fleet = await agents({ name: "a" });
    await apply();
    await until(fleet, (d) => d.status === "successful");
    const before = (await deployment()).id;
    expect((await cp.call("POST", "/v1/namespaces/default/jobs/web/scale", { body: { replicas: 6 } })).status).toBe(200);
    expect((await deployment()).id).toBe(before);
  });
});

describe("health gates", () => {
  it("a new task that fails fails the deployment, and the rollout stops there", async () => {
    const fleet = await agents({ name: "a" });
    await apply();
    await until(fleet, (d) => d.status === "successful");
    await apply({ image: "img:bad" });
    const bad = await taskIdsOf(2);
    const failed = await until(fleet, (d) => d.status === "failed", {
      mutate: async (a) => {
        for (const id of await taskIdsOf(2)) bad.add(id);
        for (const l of a.leases.values()) if (bad.has(l.taskId) && l.state === "running") l.state = "failed";
      },
    });
    expect(failed.description).toMatch(/^failed: slot \d of version 2 failed/);
    // Nothing more rolls: three slots keep version 1.
    for (let i = 0; i < 5; i++) await round(fleet);
    expect(Object.values(await versions()).filter((v) => v === 1)).toHaveLength(3);
  });

  it("with autoRevert a failed deployment rolls the last successful version out again as a new version", async () => {
    const fleet = await agents({ name: "a" });
    await apply({ update: { ...SPEC.update, autoRevert: true } });
    await until(fleet, (d) => d.status === "successful");
    await apply({ image: "img:bad", update: { ...SPEC.update, autoRevert: true } });
    const failing = await until(fleet, (d) => d.version === 3, {
      mutate: async (a) => {
        const bad = await taskIdsOf(2);
        for (const l of a.leases.values()) if (bad.has(l.taskId) && l.state === "running") l.state = "failed";
      },
    });
    expect(failing).toMatchObject({ version: 3, fromVersion: 2 });
    expect(failing.revertOf).not.toBeNull();
    const old = (await (await cp.call("GET", `/v1/namespaces/default/deployments/${failing.revertOf}`)).json()) as Detail;
    expect(old.status).toBe("reverted");
    expect(old.description).toMatch(/reverted to version 1 as version 3/);
    const done = await until(fleet, (d) => d.status === "successful");
    expect(done.version).toBe(3);
    const spec = (await (await cp.call("GET", "/v1/namespaces/default/jobs/web")).json()) as { spec: { image: string } };
    expect(spec.spec.image).toBe("img:1");
  });

  it("a task that never turns healthy fails the deployment at the healthy deadline", async () => {
    const fleet = await agents({ name: "a" });
    await apply();
    await until(fleet, (d) => d.status === "successful");
    await apply({ image: "img:2", update: { ...SPEC.update, healthyDeadline: "20s" } });
    const d = await until(fleet, (x) => x.status === "failed", {
      advance: 5_000,
      mutate: async (a) => {
        const v2 = await taskIdsOf(2);
        for (const l of a.leases.values()) if (v2.has(l.taskId)) l.state = "starting";
      },
    });
    expect(d.description).toMatch(/was not healthy within the healthy deadline \(20s\)/);
  });

  it("fails when no task becomes healthy within the progress deadline", async () => {
    const fleet = await agents({ name: "a" });
    await apply();
    await until(fleet, (d) => d.status === "successful");
    // Nothing can place the new version: no task ever becomes healthy.
    await apply({ image: "img:2", resources: { cpu: 100_000, memory: 64 }, update: { ...SPEC.update, progressDeadline: "30s" } });
    const d = await until(fleet, (x) => x.status === "failed", { advance: 10_000 });
    expect(d.description).toMatch(/progress deadline \(30s\)/);
  });
});

describe("operator actions", () => {
  it("canaries run beside the old version and wait for a promote; promote is refused until they are healthy", async () => {
    const fleet = await agents({ name: "a" }, { name: "b" });
    await apply();
    await until(fleet, (d) => d.status === "successful");
    await apply({ image: "img:2", update: { ...SPEC.update, canary: 1 } });
    const d = await deployment();
    expect(d.promoted).toBe(false);
    const early = await act(d.id, "promote");
    expect(early.status).toBe(409);
    expect(((await early.json()) as { detail: string }).detail).toMatch(/0 of 1 canaries are healthy/);
    const waiting = await until(fleet, (x) => x.description.includes("waiting for promote"));
    for (let i = 0; i < 4; i++) await round(fleet);
    // One canary beside every old replica, and nothing else rolled.
    expect(await versions()).toEqual({ [-1]: 2, 0: 1, 1: 1, 2: 1, 3: 1 });
    expect(waiting.status).toBe("running");
    const promoted = await act(d.id, "promote");
    expect(promoted.status, await promoted.clone().text()).toBe(200);
    const done = await until(fleet, (x) => x.status === "successful");
    expect(done.events.map((e) => e.type)).toContain("deployment.promoted");
    // The canary is retired once every slot runs the new version.
    expect(await versions()).toEqual({ 0: 2, 1: 2, 2: 2, 3: 2 });
  });

  it("autoPromote promotes once the canaries are healthy", async () => {
    const fleet = await agents({ name: "a" });
    await apply();
    await until(fleet, (d) => d.status === "successful");
    await apply({ image: "img:2", update: { ...SPEC.update, canary: 2, autoPromote: true } });
    const done = await until(fleet, (x) => x.status === "successful");
    expect(done.events.find((e) => e.type === "deployment.promoted")?.message).toMatch(/2 canaries healthy: promoted automatically/);
  });

  it("a failing canary fails the deployment instead of waiting for ever", async () => {
    const fleet = await agents({ name: "a" });
    await apply();
    await until(fleet, (d) => d.status === "successful");
    await apply({ image: "img:2", update: { ...SPEC.update, canary: 1 } });
    const d = await until(fleet, (x) => x.status === "failed", {
      mutate: async (a) => {
        const v2 = await taskIdsOf(2);
        for (const l of a.leases.values()) if (v2.has(l.taskId) && l.state === "running") l.state = "failed";
      },
    });
    expect(d.description).toMatch(/canary 1 of version 2 failed/);
  });

  it("pause holds the rollout and resume lets it go on; fail ends it", async () => {
    const fleet = await agents({ name: "a" });
    await apply();
    await until(fleet, (d) => d.status === "successful");
    await apply({ image: "img:2" });
    const { id } = await deployment();
    await round(fleet);
    expect((await act(id, "pause")).status).toBe(200);
    expect((await act(id, "pause")).status).toBe(409);
    // The slot already in flight finishes; no slot still at version 1 is touched.
    const oldSlots = async () => Object.entries(await versions()).filter(([, v]) => v === 1).map(([slot]) => slot);
    const held = await oldSlots();
    expect(held.length).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) await round(fleet);
    expect(await oldSlots()).toEqual(held);
    expect((await deployment()).description).toMatch(/^paused/);
    expect((await act(id, "resume")).status).toBe(200);
    await round(fleet);
    await round(fleet);
    expect((await oldSlots()).length).toBeLessThan(held.length);
    const failed = await act(id, "fail");
    expect(failed.status).toBe(200);
    expect((await deployment()).status).toBe("failed");
    expect((await act(id, "resume")).status).toBe(409);
    const audit = await cp.store.client.execute("SELECT action FROM audit WHERE action LIKE 'deployment.%' ORDER BY id");
    expect(audit.rows.map((r) => r["action"])).toEqual(["deployment.pause", "deployment.resume", "deployment.fail"]);
  });

  it("refuses a bad action body with a problem naming the field, and unknown deployments with 404", async () => {
    await agents({ name: "a" });
    await apply();
    const { id } = await deployment();
    const bad = await act(id, "promote", { force: "yes" });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toMatch(/application\/problem\+json/);
    expect(JSON.stringify(await bad.json())).toContain("force");
    expect((await act("nope", "pause")).status).toBe(404);
  });
});

describe("offline hosts and waves", () => {
  it("a slot on a host that goes quiet keeps its old version and counts as pending; the rollout ends after the offline deadline", async () => {
    // Leases that outlast the deadlines: a host is offline (quiet after two heartbeat intervals) long
    // before its lease lapses, when its slot would be lost and placed elsewhere like any lost slot.
    await cp.close();
    cp = await createTestControlPlane({ config: { leaseTtl: "10m" } });
    const [a, b] = await agents({ name: "a" }, { name: "b" });
    await apply({ replicas: 2, update: { ...SPEC.update, healthyDeadline: "10s", progressDeadline: "20s", offlineDeadline: "2m" } });
    await until([a!, b!], (d) => d.status === "successful");
    const onB = await cp.store.client.execute({ sql: "SELECT slot FROM tasks WHERE desired = 'run' AND node_id = ?", args: [b!.nodeId!] });
    const slotOnB = Number(onB.rows[0]?.["slot"]);
    // b goes quiet (it keeps its copy: disconnect keep), then the new version is applied.
    for (let i = 0; i < 3; i++) await round([a!], { advance: 5_000 });
    await apply({ replicas: 2, image: "img:2", update: { ...SPEC.update, healthyDeadline: "10s", progressDeadline: "20s", offlineDeadline: "2m" } });
    const pending = await until([a!], (d) => d.slots.some((s) => s.offline) && d.counts.healthy === 1, { advance: 5_000 });
    expect(pending.status).toBe("running");
    expect(pending.slots.find((s) => s.slot === slotOnB)).toMatchObject({ offline: true, oldVersion: 1 });
    expect(pending.description).toMatch(/waiting for 1 slot on offline hosts/);
    // Past the healthy and progress deadlines: still running, not failed.
    for (let i = 0; i < 6; i++) await round([a!], { advance: 5_000 });
    expect((await deployment()).status).toBe("running");
    const ended = await until([a!], (d) => d.status !== "running", { advance: 15_000 });
    expect(ended.status).toBe("successful");
    expect(ended.description).toMatch(/1 slot on offline hosts still run older versions/);
  });

  it("waves roll one region at a time in the stated order", async () => {
    const fleet = await agents({ name: "eu1", region: "eu" }, { name: "us1", region: "us" });
    const update = { ...SPEC.update, parallelism: 2, waves: "region", waveOrder: ["us", "eu"] };
    await apply({ constraints: [], update });
    await until(fleet, (d) => d.status === "successful");
    await apply({ image: "img:2", update });
    const regionOf = async () => {
      const r = await cp.store.client.execute("SELECT t.version, n.region FROM tasks t JOIN nodes n ON n.id = t.node_id WHERE t.desired = 'run'");
      return r.rows.map((x) => [String(x["region"]), Number(x["version"])] as const);
    };
    let euTouchedWhileUsOld = false;
    const done = await until(fleet, (d) => d.status === "successful", {
      mutate: async () => {
        const rows = await regionOf();
        if (rows.some(([r, v]) => r === "eu" && v === 2) && rows.some(([r, v]) => r === "us" && v === 1)) euTouchedWhileUsOld = true;
      },
    });
    expect(euTouchedWhileUsOld).toBe(false);
    expect(done.events.filter((e) => e.type === "deployment.wave").map((e) => e.message)).toEqual(["wave us started", "wave us done; next: eu", "wave eu done"]);
  });
});

describe("a host that goes quiet mid-rollout", () => {
  it("a slot whose stop order its host never heard counts as pending, not as a stalled rollout", async () => {
    await cp.close();
    cp = await createTestControlPlane({ config: { leaseTtl: "10m" } });
    const [a, b] = await agents({ name: "a" }, { name: "b" });
    const update = { ...SPEC.update, parallelism: 2, healthyDeadline: "10s", progressDeadline: "20s", offlineDeadline: "2m" };
    await apply({ replicas: 2, update });
    await until([a!, b!], (d) => d.status === "successful");
    // Both old copies are told to stop at once; b goes quiet before it hears its order.
    await apply({ replicas: 2, image: "img:2", update });
    const stopping = await cp.store.client.execute("SELECT count(*) AS n FROM tasks WHERE desired = 'stop' AND state = 'running'");
    expect(Number(stopping.rows[0]?.["n"])).toBe(2);
    const pending = await until([a!], (d) => d.slots.some((s) => s.offline), { advance: 5_000 });
    expect(pending.status).toBe("running");
    for (let i = 0; i < 6; i++) await round([a!], { advance: 5_000 });
    expect((await deployment()).status).toBe("running");
  });
});
