// A job is a versioned template plus an unversioned count: changing replicas alone is a scale. It writes
// no version, and never stops, moves or re-leases a surviving replica.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HollowAgent, type Fetcher } from "../../bench/hollow-agent";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";

let cp: TestControlPlane;
const fetcher: Fetcher = async (path, init) => cp.app.request(path, init);

beforeEach(async () => {
  cp = await createTestControlPlane();
});
afterEach(() => cp.close());

const SPEC = { name: "web", image: "img:1", resources: { cpu: 100, memory: 64 } };

async function agent(): Promise<HollowAgent> {
  const { token } = (await (await cp.call("POST", "/v1/join-tokens", { body: {} })).json()) as { token: string };
  const a = new HollowAgent(fetcher, "node-a");
  await a.enroll(token);
  await a.heartbeat();
  return a;
}

interface ApplyBody {
  job: { version: number; replicas: number };
  changed: boolean;
  scaled?: { from: number; to: number };
}

async function apply(spec: Record<string, unknown>): Promise<ApplyBody> {
  const res = await cp.call("POST", "/v1/jobs", { body: { ...SPEC, ...spec } });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as ApplyBody;
}

type Row = { id: string; slot: number; epoch: number; desired: string; version: number; state: string };
async function rows(): Promise<Row[]> {
  const r = await cp.store.client.execute("SELECT id, slot, epoch, desired, version, state FROM tasks ORDER BY slot, id");
  return r.rows.map((x) => ({ id: String(x["id"]), slot: Number(x["slot"]), epoch: Number(x["epoch"]), desired: String(x["desired"]), version: Number(x["version"]), state: String(x["state"]) }));
}

async function versions(): Promise<number> {
  const r = await cp.store.client.execute("SELECT count(*) AS n FROM job_versions");
  return Number(r.rows[0]?.["n"]);
}

describe("scaling by re-applying", () => {
  it("3 → 10 → 3 keeps version 1 and leaves the surviving replicas' rows, epochs and leases alone", async () => {
    const a = await agent();
    await apply({ replicas: 3 });
    await a.claim();
    await a.heartbeat();
    const before = await rows();
    expect(before.map((r) => [r.slot, r.epoch, r.state])).toEqual([
      [0, 1, "running"],
      [1, 1, "running"],
      [2, 1, "running"],
    ]);

    const up = await apply({ replicas: 10 });
    expect(up).toMatchObject({ changed: true, scaled: { from: 3, to: 10 }, job: { version: 1, replicas: 10 } });
    expect(await versions()).toBe(1);
    const scaledUp = await rows();
    expect(scaledUp.filter((r) => r.desired === "run")).toHaveLength(10);
    expect(scaledUp.filter((r) => r.slot < 3)).toEqual(before);
    expect(new Set(scaledUp.map((r) => r.version))).toEqual(new Set([1]));
    // The agent's next claim adds the 7 new slots; its 3 leases stay at their epochs.
    const claimed = await a.claim();
    expect(claimed.leases).toHaveLength(10);
    const original = new Set(before.map((r) => r.id));
    expect(claimed.leases.filter((l) => original.has(l.taskId)).map((l) => l.epoch)).toEqual([1, 1, 1]);
    const renewed = await a.heartbeat();
    expect(renewed.revoked).toEqual([]);

    const down = await apply({ replicas: 3 });
    expect(down).toMatchObject({ changed: true, scaled: { from: 10, to: 3 }, job: { version: 1, replicas: 3 } });
    const scaledDown = await rows();
    expect(scaledDown.filter((r) => r.slot < 3)).toEqual(before.map((r) => ({ ...r })));
    expect(scaledDown.filter((r) => r.slot >= 3).every((r) => r.desired === "stop")).toBe(true);
    expect(await versions()).toBe(1);

    const detail = (await (await cp.call("GET", "/v1/namespaces/default/jobs/web")).json()) as { job: { replicas: number }; spec: { replicas: number } };
    expect(detail.job.replicas).toBe(3);
    expect(detail.spec.replicas).toBe(3);
    const events = await cp.store.client.execute("SELECT message FROM events WHERE type = 'job.scale' ORDER BY id");
    expect(events.rows.map((e) => String(e["message"]))).toEqual(["scaled from 3 to 10 by bootstrap-admin", "scaled from 10 to 3 by bootstrap-admin"]);
  });

  it("an unchanged re-apply changes nothing; a template change is a new version that carries the count", async () => {
    await agent();
    await apply({ replicas: 2 });
    expect(await apply({ replicas: 2 })).toMatchObject({ changed: false, job: { version: 1 } });
    const both = await apply({ replicas: 4, image: "img:2" });
    expect(both).toMatchObject({ changed: true, job: { version: 2, replicas: 4 } });
    expect(both.scaled).toBeUndefined();
    expect(await versions()).toBe(2);
  });

  it("a job stored before the count left the version is recognised as the same template", async () => {
    await agent();
    await apply({ replicas: 2 });
    // As a job written by an earlier release looks: no count of its own, a hash over the whole spec.
    await cp.store.client.execute("UPDATE jobs SET replicas = NULL, spec_hash = 'hash-of-the-whole-spec'");
    expect(await apply({ replicas: 2 })).toMatchObject({ changed: false, job: { version: 1 } });
    expect(await apply({ replicas: 3 })).toMatchObject({ changed: true, scaled: { from: 2, to: 3 }, job: { version: 1 } });
    expect(await versions()).toBe(1);
  });
});

describe("POST .../scale", () => {
  it("scales, honours a version check, refuses a stopped job, and validates its body with field paths", async () => {
    await agent();
    await apply({ replicas: 1 });
    const res = await cp.call("POST", "/v1/namespaces/default/jobs/web/scale", { body: { replicas: 4 } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ changed: true, scaled: { from: 1, to: 4 }, job: { version: 1, replicas: 4 } });
    expect((await rows()).filter((r) => r.desired === "run")).toHaveLength(4);

    const stale = await cp.call("POST", "/v1/namespaces/default/jobs/web/scale", { body: { replicas: 2, version: 7 } });
    expect(stale.status).toBe(409);
    const bad = await cp.call("POST", "/v1/namespaces/default/jobs/web/scale", { body: { replicas: -1 } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(["replicas"]);
    const unknown = await cp.call("POST", "/v1/namespaces/default/jobs/nope/scale", { body: { replicas: 2 } });
    expect(unknown.status).toBe(404);
    expect((await rows()).filter((r) => r.desired === "run")).toHaveLength(4);

    expect((await cp.call("POST", "/v1/namespaces/default/jobs/web/stop")).status).toBe(200);
    expect((await cp.call("POST", "/v1/namespaces/default/jobs/web/scale", { body: { replicas: 2 } })).status).toBe(409);
    const viewer = await cp.token({ default: "viewer" });
    expect((await cp.call("POST", "/v1/namespaces/default/jobs/web/scale", { token: viewer, body: { replicas: 2 } })).status).toBe(403);
  });
});

describe("POST /v1/jobs?checkVersion=N", () => {
  it("applies only while the job is at the version the caller saw, and refuses a bad value with its path", async () => {
    const post = (spec: Record<string, unknown>, query: string) => cp.call("POST", `/v1/jobs${query}`, { body: { ...SPEC, ...spec } });
    expect((await post({ replicas: 1 }, "?checkVersion=1")).status).toBe(409);
    expect((await post({ replicas: 1 }, "?checkVersion=0")).status).toBe(200);
    expect((await post({ image: "img:2" }, "?checkVersion=0")).status).toBe(409);
    const moved = await post({ image: "img:2" }, "?checkVersion=1");
    expect(moved.status).toBe(200);
    expect(await moved.json()).toMatchObject({ changed: true, job: { version: 2 } });
    const stale = await post({ image: "img:3" }, "?checkVersion=1");
    expect(stale.status).toBe(409);
    expect(((await stale.json()) as { detail: string }).detail).toBe("job default/web is at version 2, not 1");
    const bad = await post({ image: "img:3" }, "?checkVersion=soon");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(["query.checkVersion"]);
    expect(await versions()).toBe(2);
  });
});

describe("a scale racing a template write", () => {
  it("survives a rollback, revert or rotation that read the count before the scale landed", async () => {
    const { jobSpecSchema } = await import("../../api/job-spec");
    const { applyJob } = await import("../../worker/jobs/apply");
    await apply({ replicas: 2 });
    await apply({ replicas: 2, image: "img:2" });
    // What the template write read before the scale: version 1's template with the count 2.
    const stale = jobSpecSchema.parse({ ...SPEC, replicas: 2 });
    expect((await cp.call("POST", "/v1/namespaces/default/jobs/web/scale", { body: { replicas: 5 } })).status).toBe(200);
    const kept = await applyJob(cp.store, cp.clock.now(), "test", stale, undefined, { rollbackTo: 1, expectVersion: 2, keepCount: true });
    expect([kept.job.version, kept.job.replicas]).toEqual([3, 5]);
    // Without keepCount the stale count wins: the reason the template writers pass it.
    const lost = await applyJob(cp.store, cp.clock.now(), "test", jobSpecSchema.parse({ ...SPEC, image: "img:2", replicas: 2 }), undefined, { expectVersion: 3 });
    expect(lost.job.replicas).toBe(2);
  });
});
