// Rollback is a new version equal to an earlier one, rolled out like any other: never the old version
// number brought back, never all replicas at once.
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

async function apply(spec: Record<string, unknown>) {
  const res = await cp.call("POST", "/v1/jobs", { body: { ...SPEC, ...spec } });
  expect(res.status, await res.clone().text()).toBe(200);
}

async function rollback(body?: unknown) {
  return cp.call("POST", "/v1/namespaces/default/jobs/web/rollback", body === undefined ? {} : { body });
}

async function liveVersions(): Promise<number[]> {
  const r = await cp.store.client.execute("SELECT version FROM tasks WHERE desired = 'run' ORDER BY slot");
  return r.rows.map((x) => Number(x["version"]));
}

describe("POST .../rollback", () => {
  it("writes a new version with the earlier template and today's count, and rolls it under the update's parallelism", async () => {
    // Versions 1 and 2 applied before any node could take them; then the count goes to 3 and an agent runs them.
    await apply({});
    await apply({ image: "img:2" });
    expect((await cp.call("POST", "/v1/namespaces/default/jobs/web/scale", { body: { replicas: 3 } })).status).toBe(200);
    const a = new HollowAgent(fetcher, "node-a");
    const { token } = (await (await cp.call("POST", "/v1/join-tokens", { body: {} })).json()) as { token: string };
    await a.enroll(token);
    await a.heartbeat();
    await cp.settled();
    await a.claim();
    await a.heartbeat();
    expect(await liveVersions()).toEqual([2, 2, 2]);

    const res = await rollback();
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ changed: true, rolledBackTo: 1, job: { version: 3, replicas: 3 } });
    const versions = (await (await cp.call("GET", "/v1/namespaces/default/jobs/web/versions")).json()) as { versions: { version: number; spec: { image: string; replicas: number } }[] };
    expect(versions.versions.map((v) => [v.version, v.spec.image])).toEqual([
      [3, "img:1"],
      [2, "img:2"],
      [1, "img:1"],
    ]);
    expect(versions.versions[0]?.spec.replicas).toBe(3);
    // Stop-first with parallelism 1: one slot at a time goes to the new version, the others keep running.
    expect(await liveVersions()).toEqual([2, 2]);
    const stopping = await cp.store.client.execute("SELECT version, state FROM tasks WHERE desired = 'stop' AND state = 'running'");
    expect(stopping.rows.map((r) => Number(r["version"]))).toEqual([2]);
    const events = await cp.store.client.execute("SELECT message FROM events WHERE type = 'job.version' ORDER BY id DESC LIMIT 1");
    expect(String(events.rows[0]?.["message"])).toBe("version 3, a rollback to version 1, applied by bootstrap-admin");
  });

  it("goes back to a named version; refuses the current one, one that does not exist, a stopped job, and a viewer", async () => {
    await apply({});
    await apply({ image: "img:2" });
    await apply({ image: "img:3" });
    const to1 = await rollback({ version: 1 });
    expect(await to1.json()).toMatchObject({ rolledBackTo: 1, job: { version: 4 } });
    expect((await rollback({ version: 4 })).status).toBe(409);
    expect((await rollback({ version: 9 })).status).toBe(404);
    const bad = await rollback({ version: "two" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(["version"]);
    const viewer = await cp.token({ default: "viewer" });
    expect((await cp.call("POST", "/v1/namespaces/default/jobs/web/rollback", { token: viewer, body: {} })).status).toBe(403);
    expect((await cp.call("POST", "/v1/namespaces/default/jobs/web/stop")).status).toBe(200);
    expect((await rollback()).status).toBe(409);
    const count = await cp.store.client.execute("SELECT count(*) AS n FROM job_versions");
    expect(Number(count.rows[0]?.["n"])).toBe(4);
  });

  it("a job with one version has nothing to go back to", async () => {
    await apply({});
    expect((await rollback()).status).toBe(404);
  });
});
