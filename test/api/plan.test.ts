// POST /v1/jobs/plan answers what an apply of the same file would do — create, scale, a new version or
// nothing, the field diff, each node's slots — and writes nothing at all.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PlanResponse } from "../../api/job-plan";
import { HollowAgent, type Fetcher } from "../../bench/hollow-agent";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { expectJson, expectProblem } from "./helpers";

let cp: TestControlPlane;
const fetcher: Fetcher = async (path, init) => cp.app.request(path, init);

beforeEach(async () => {
  cp = await createTestControlPlane();
});
afterEach(() => cp.close());

const SPEC = { name: "web", image: "img:1", replicas: 3, resources: { cpu: 100, memory: 64 } };

async function agent(name: string, opts: ConstructorParameters<typeof HollowAgent>[2] = {}): Promise<HollowAgent> {
  const { token } = (await (await cp.call("POST", "/v1/join-tokens", { body: {} })).json()) as { token: string };
  const a = new HollowAgent(fetcher, name, opts);
  await a.enroll(token);
  await a.heartbeat();
  return a;
}

/** Claims and reports until every agent runs what it was given. */
async function run(...agents: HollowAgent[]): Promise<void> {
  for (const a of agents) {
    await a.claim();
    await a.heartbeat();
  }
}

async function plan(spec: Record<string, unknown>): Promise<PlanResponse> {
  return expectJson<PlanResponse>(await cp.call("POST", "/v1/jobs/plan", { body: { ...SPEC, ...spec } }));
}

async function apply(spec: Record<string, unknown>): Promise<{ changed: boolean; scaled?: unknown; job: { version: number } }> {
  return expectJson(await cp.call("POST", "/v1/jobs", { body: { ...SPEC, ...spec } }));
}

/** node name → its slot buckets, leaving out empty ones. */
function byName(p: PlanResponse): Record<string, Partial<Record<"placed" | "stopped" | "kept" | "rolled", number[]>>> {
  const out: Record<string, Partial<Record<"placed" | "stopped" | "kept" | "rolled", number[]>>> = {};
  for (const n of p.nodes) {
    const buckets: Partial<Record<"placed" | "stopped" | "kept" | "rolled", number[]>> = {};
    for (const k of ["placed", "stopped", "kept", "rolled"] as const) if (n[k].length > 0) buckets[k] = n[k];
    out[n.name] = buckets;
  }
  return out;
}

/** node name → the slots of the job's desired-run tasks on it. */
async function slotsByNode(): Promise<Record<string, number[]>> {
  const r = await cp.store.client.execute("SELECT n.name AS node, t.slot AS slot FROM tasks t JOIN nodes n ON n.id = t.node_id WHERE t.desired = 'run' ORDER BY n.name, t.slot");
  const out: Record<string, number[]> = {};
  for (const row of r.rows) (out[String(row["node"])] ??= []).push(Number(row["slot"]));
  return out;
}

/** Every row of every table: a plan must leave all of it as it was. */
async function everything(): Promise<Record<string, unknown[]>> {
  const tables = await cp.store.client.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
  const out: Record<string, unknown[]> = {};
  for (const t of tables.rows) {
    const name = String(t["name"]);
    out[name] = (await cp.store.client.execute(`SELECT * FROM "${name}"`)).rows.map((r) => ({ ...r }));
  }
  return out;
}

async function count(table: string): Promise<number> {
  return Number((await cp.store.client.execute(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.["n"]);
}

describe("POST /v1/jobs/plan", () => {
  it("plans a new job as a create with its placements per node, and apply then creates it", async () => {
    await agent("node-a");
    await agent("node-b");
    const p = await plan({});
    expect(p).toMatchObject({ jobId: "default/web", change: "create", current: null, version: 1, replicas: 3, unplaced: [] });
    expect(p.diff).toContainEqual({ path: "image", kind: "added", to: "img:1" });
    expect(p.nodes.map((n) => n.name).every((n) => n === "node-a" || n === "node-b")).toBe(true);
    expect(p.nodes.flatMap((n) => n.placed).sort()).toEqual([0, 1, 2]);
    expect(p.nodes.every((n) => n.id.length > 0 && n.stopped.length + n.kept.length + n.rolled.length === 0)).toBe(true);

    expect(await apply({})).toMatchObject({ changed: true, job: { version: 1 } });
    expect(Object.values(await slotsByNode()).flat().sort()).toEqual([0, 1, 2]);
  });

  it("plans an unchanged file as none, with every running slot kept where it is", async () => {
    const a = await agent("node-a");
    await apply({});
    await run(a);
    const p = await plan({});
    expect(p).toMatchObject({ change: "none", current: { version: 1, replicas: 3, status: "running" }, version: 1, diff: [], unplaced: [] });
    expect(byName(p)).toEqual({ "node-a": { kept: [0, 1, 2] } });
    expect(await apply({})).toMatchObject({ changed: false });
  });

  it("plans a count change as a scale: surviving slots kept, new ones placed, those above the count stopped", async () => {
    const a = await agent("node-a");
    await apply({});
    await run(a);
    const up = await plan({ replicas: 5 });
    expect(up).toMatchObject({ change: "scale", current: { version: 1, replicas: 3 }, version: 1, replicas: 5 });
    expect(up.diff).toEqual([{ path: "replicas", kind: "changed", from: 3, to: 5 }]);
    expect(byName(up)).toEqual({ "node-a": { placed: [3, 4], kept: [0, 1, 2] } });

    const down = await plan({ replicas: 1 });
    expect(down).toMatchObject({ change: "scale", version: 1, replicas: 1 });
    expect(byName(down)).toEqual({ "node-a": { stopped: [1, 2], kept: [0] } });

    // Apply does what the plan said, version kept.
    expect(await apply({ replicas: 1 })).toMatchObject({ changed: true, scaled: { from: 3, to: 1 }, job: { version: 1 } });
  });

  it("plans an image change as a new version whose running slots are rolled on their nodes, with a diff naming image", async () => {
    const a = await agent("node-a");
    const b = await agent("node-b");
    await apply({ replicas: 4, update: { parallelism: 1 } });
    await run(a, b);
    const where = await slotsByNode();
    expect(Object.values(where).flat().sort()).toEqual([0, 1, 2, 3]);

    const p = await plan({ replicas: 4, update: { parallelism: 1 }, image: "img:2" });
    expect(p).toMatchObject({ change: "version", current: { version: 1, replicas: 4 }, version: 2, unplaced: [] });
    expect(p.diff).toEqual([{ path: "image", kind: "changed", from: "img:1", to: "img:2" }]);
    // The end state, not the first step of parallelism 1: every slot is rolled, each on the node it runs on.
    expect(byName(p)).toEqual(Object.fromEntries(Object.entries(where).map(([node, slots]) => [node, { rolled: slots }])));

    expect(await apply({ replicas: 4, update: { parallelism: 1 }, image: "img:2" })).toMatchObject({ changed: true, job: { version: 2 } });
  });

  it("says which slots no node can take, and why", async () => {
    await agent("node-a", { cpu: 1000 });
    await agent("node-b", { cpu: 1000 });
    const p = await plan({ replicas: 2, resources: { cpu: 2000, memory: 64 } });
    expect(p.change).toBe("create");
    expect(p.nodes).toEqual([]);
    expect(p.unplaced).toEqual([
      { slot: 0, reason: "no node with 2000m cpu and 64MiB memory: 2 nodes short on cpu" },
      { slot: 1, reason: "no node with 2000m cpu and 64MiB memory: 2 nodes short on cpu" },
    ]);
  });

  it("keeps a running version that its successor would not fit in place of, and says so", async () => {
    const a = await agent("node-a", { cpu: 1000 });
    await apply({ replicas: 1 });
    await run(a);
    const p = await plan({ replicas: 1, resources: { cpu: 2000, memory: 64 } });
    expect(p).toMatchObject({ change: "version", version: 2 });
    expect(p.diff).toEqual([{ path: "resources.cpu", kind: "changed", from: 100, to: 2000 }]);
    expect(byName(p)).toEqual({ "node-a": { kept: [0] } });
    expect(p.unplaced).toEqual([{ slot: 0, reason: "version 2 not placed, old version kept: no node with 2000m cpu and 64MiB memory: 1 node short on cpu" }]);
  });

  it("takes a YAML file as apply does, and a stopped job's plan is a new version", async () => {
    const a = await agent("node-a");
    await apply({});
    await run(a);
    expect((await cp.call("POST", "/v1/namespaces/default/jobs/web/stop")).status).toBe(200);
    const yaml = "name: web\nimage: img:1\nreplicas: 3\nresources: { cpu: 100, memory: 64 }\n";
    const planYaml = async () => expectJson<PlanResponse>(await cp.call("POST", "/v1/jobs/plan", { body: yaml, headers: { "content-type": "application/yaml" } }));
    // Its copies are still stopping: each slot's new copy comes once its old one has gone.
    const stopping = await planYaml();
    expect(stopping).toMatchObject({ change: "version", current: { version: 1, status: "stopped" }, version: 2, diff: [], unplaced: [] });
    expect(byName(stopping)).toEqual({ "node-a": { rolled: [0, 1, 2] } });
    // Once they have stopped (told so by one heartbeat, reported by the next), the slots are placed afresh.
    await a.heartbeat();
    await a.heartbeat();
    await cp.settled();
    const stopped = await planYaml();
    expect(stopped.nodes.flatMap((n) => n.placed).sort()).toEqual([0, 1, 2]);
    expect(stopped.nodes.flatMap((n) => n.rolled)).toEqual([]);
    expect(await apply({})).toMatchObject({ changed: true, job: { version: 2 } });
  });

  it("refuses bad input as apply does: problem+json with field paths, a missing namespace, a viewer", async () => {
    const bad = await expectProblem(await cp.call("POST", "/v1/jobs/plan", { body: { ...SPEC, name: "Not A Name", replicas: -1 } }), 400);
    expect(bad.errors?.map((e) => e.path).sort()).toEqual(["name", "replicas"]);
    const badYaml = await expectProblem(
      await cp.call("POST", "/v1/jobs/plan", { body: "name: web\nimage: img:1\nresources: { cpu: 0, memory: 64 }\n", headers: { "content-type": "application/yaml" } }),
      400,
    );
    expect(badYaml.errors?.map((e) => e.path)).toEqual(["resources.cpu"]);
    await expectProblem(await cp.call("POST", "/v1/jobs/plan", { body: "name: [unclosed", headers: { "content-type": "application/yaml" } }), 400);
    await expectProblem(await cp.call("POST", "/v1/jobs/plan", { body: "" , headers: { "content-type": "application/yaml" } }), 400);
    await expectProblem(await cp.call("POST", "/v1/jobs/plan", { body: { ...SPEC, namespace: "nowhere" } }), 404, "not-found");
    const viewer = await cp.token({ default: "viewer" });
    await expectProblem(await cp.call("POST", "/v1/jobs/plan", { token: viewer, body: SPEC }), 403);
    const other = await cp.token({ other: "operator" });
    await expectProblem(await cp.call("POST", "/v1/jobs/plan", { token: other, body: SPEC }), 403);
    await expectProblem(await cp.call("POST", "/v1/jobs/plan", { token: null, body: SPEC }), 401);
  });

  it("writes nothing: no job, version, evaluation, event, audit row or task, whatever it plans", async () => {
    const a = await agent("node-a");
    await apply({});
    await run(a);
    await cp.settled();
    const tables = ["jobs", "job_versions", "evaluations", "events", "audit", "tasks"];
    const counts = async () => Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await count(t)] as const)));
    const beforeCounts = await counts();
    const before = await everything();
    for (const spec of [{}, { replicas: 5 }, { replicas: 1 }, { image: "img:2" }, { name: "other" }, { resources: { cpu: 100_000, memory: 64 } }]) await plan(spec);
    await cp.settled();
    expect(await counts()).toEqual(beforeCounts);
    expect(await everything()).toEqual(before);
  });

  it("is in the OpenAPI document with its response schema", async () => {
    const doc = (await (await cp.call("GET", "/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: { properties?: Record<string, unknown> } }> }> }>>;
    };
    const post = doc.paths["/v1/jobs/plan"]?.["post"];
    expect(post).toBeDefined();
    const schema = post?.responses["200"]?.content?.["application/json"]?.schema;
    expect(Object.keys(schema?.properties ?? {})).toEqual(expect.arrayContaining(["change", "current", "diff", "nodes", "unplaced"]));
    expect(Object.keys(post?.responses ?? {})).toEqual(expect.arrayContaining(["200", "400", "403"]));
  });
});
