// Leases end to end through the HTTP API with hollow agents and a manual clock: enrollment, claim,
// heartbeat, expiry → lost → replacement at a higher epoch, fencing of the stale agent, drain.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { decodeJwt } from "jose";
import { HollowAgent, ProtocolError, type Fetcher } from "../../bench/hollow-agent";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { jobSpecSchema } from "../../api/job-spec";
import { payloadHash } from "../../api/payload-hash";
import { applyJob } from "../../worker/jobs/apply";

let cp: TestControlPlane;

const fetcherFor = (cp: TestControlPlane): Fetcher => async (path, init) => cp.app.request(path, init);

async function joinToken(body: Record<string, unknown> = {}): Promise<string> {
  const res = await cp.call("POST", "/v1/join-tokens", { body });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

async function agent(name: string, opts: ConstructorParameters<typeof HollowAgent>[2] = {}, token?: string): Promise<HollowAgent> {
  const a = new HollowAgent(fetcherFor(cp), name, opts);
  await a.enroll(token ?? (await joinToken()));
  await a.heartbeat();
  return a;
}

async function apply(spec: Record<string, unknown>) {
  const res = await cp.call("POST", "/v1/jobs", { body: { image: "img", resources: { cpu: 500, memory: 256 }, ...spec } });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { job: { id: string; version: number }; evaluation?: { placed: number; unplaced: { reason: string }[] } };
}

type TaskRow = { id: string; node_id: string | null; state: string; desired: string; epoch: number; slot: number };
async function tasksOf(jobId: string): Promise<TaskRow[]> {
  const r = await cp.store.client.execute({ sql: "SELECT id, node_id, state, desired, epoch, slot FROM tasks WHERE job_id = ? ORDER BY slot", args: [jobId] });
  return r.rows.map((row) => ({ id: String(row["id"]), node_id: row["node_id"] === null ? null : String(row["node_id"]), state: String(row["state"]), desired: String(row["desired"]), epoch: Number(row["epoch"]), slot: Number(row["slot"]) }));
}

beforeEach(async () => {
  cp = await createTestControlPlane();
});
afterEach(() => cp.close());

describe("enrollment", () => {
  it("registers a node and stores only a hash of the join token", async () => {
    const token = await joinToken({ description: "rack 1" });
    const a = new HollowAgent(fetcherFor(cp), "node-a", { region: "eu", labels: { disk: "ssd" }, cpu: 2000, memory: 4096 });
    const enrolled = await a.enroll(token);
    expect(enrolled.jwks.keys).toHaveLength(1);
    expect(enrolled.heartbeatIntervalMs).toBe(5_000);
    expect(enrolled.leaseTtlMs).toBe(15_000);
    const stored = await cp.store.client.execute("SELECT hash FROM join_tokens");
    expect(String(stored.rows[0]?.["hash"])).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored.rows)).not.toContain(token.split(".")[1]);
    const node = (await (await cp.call("GET", "/v1/nodes/node-a")).json()) as { node: { state: string; region: string; labels: Record<string, string>; capacity: { cpu: number } } };
    expect(node.node).toMatchObject({ state: "initializing", region: "eu", labels: { disk: "ssd" }, capacity: { cpu: 2000 } });
    await a.heartbeat();
    const ready = (await (await cp.call("GET", "/v1/nodes/node-a")).json()) as { node: { state: string } };
    expect(ready.node.state).toBe("ready");
  });

  it("enforces max uses, expiry, revocation and region binding", async () => {
    const once = await joinToken({ maxUses: 1 });
    await new HollowAgent(fetcherFor(cp), "n1").enroll(once);
    await expect(new HollowAgent(fetcherFor(cp), "n2").enroll(once)).rejects.toMatchObject({ status: 401, problem: { detail: "join token has been used up" } });

    const shortLived = await joinToken({ ttl: "1m" });
    cp.clock.advance(61_000);
    await expect(new HollowAgent(fetcherFor(cp), "n3").enroll(shortLived)).rejects.toMatchObject({ status: 401, problem: { detail: "join token has expired" } });

    const bound = await joinToken({ region: "eu" });
    await expect(new HollowAgent(fetcherFor(cp), "n4", { region: "us" }).enroll(bound)).rejects.toMatchObject({ status: 403 });
    await new HollowAgent(fetcherFor(cp), "n4", { region: "eu" }).enroll(bound);

    const revoked = await joinToken();
    const id = revoked.slice(4, 12);
    expect((await cp.call("DELETE", `/v1/join-tokens/${id}`)).status).toBe(200);
    await expect(new HollowAgent(fetcherFor(cp), "n5").enroll(revoked)).rejects.toMatchObject({ status: 401, problem: { detail: "join token has been revoked" } });
    await expect(new HollowAgent(fetcherFor(cp), "n6").enroll("lhj_nonsense.secret")).rejects.toMatchObject({ status: 401 });
    const nodes = await cp.store.client.execute("SELECT name FROM nodes ORDER BY name");
    expect(nodes.rows.map((r) => r["name"])).toEqual(["n1", "n4"]);
  });

  it("refuses a second live node with the same name, and rotates the credential at half-life", async () => {
    const a = await agent("node-a");
    await expect(new HollowAgent(fetcherFor(cp), "node-a").enroll(await joinToken())).rejects.toMatchObject({ status: 409 });
    const before = a.credential;
    cp.clock.advance(31 * 60_000);
    const r = await a.heartbeat();
    expect(r.credential).toBeDefined();
    expect(a.credential).not.toBe(before);
    await a.heartbeat();
  });

  it("does not accept a node credential as an operator token or vice versa", async () => {
    const a = await agent("node-a");
    expect((await cp.call("GET", "/v1/nodes", { token: a.credential })).status).toBe(401);
    const res = await cp.app.request("/v1/agent/heartbeat", { method: "POST", headers: { authorization: `Bearer ${cp.adminToken}`, "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
  });
});

describe("claims and heartbeats", () => {
  it("places a job, leases it to the agent with a signed lease, and renews on heartbeat", async () => {
    const a = await agent("node-a");
    const { job, evaluation } = await apply({ name: "web", replicas: 3, disconnect: { policy: "stop", after: "30s" } });
    expect(evaluation?.placed).toBe(3);
    const hb = await a.heartbeat();
    expect(hb.work).toBe(true);
    const claim = await a.claim();
    expect(claim.leases).toHaveLength(3);
    const grant = claim.leases[0]!;
    const claims = decodeJwt(grant.lease);
    expect(claims).toMatchObject({ node: a.nodeId, epoch: 1, ver: 1, ph: await payloadHash(grant.task) });
    expect(grant.task).toMatchObject({ image: "img", disconnect: { policy: "stop", afterMs: 30_000 } });
    expect((await tasksOf(job.id)).map((t) => t.state)).toEqual(["leased", "leased", "leased"]);

    cp.clock.advance(5_000);
    const renewed = await a.heartbeat();
    expect(renewed.revoked).toEqual([]);
    // A self-fencing job's leases outlast its bound (30 s) plus stop grace (10 s) and a 5 s margin, not just
    // the 15 s TTL: a replacement can only start once the cut-off agent has stopped its copy.
    const fenced = cp.clock.now() + 45_000;
    expect(renewed.renewed.map((r) => r.expiresAt)).toEqual([fenced, fenced, fenced]);
    expect((await tasksOf(job.id)).map((t) => t.state)).toEqual(["running", "running", "running"]);
    // A repeated claim returns the same leases (idempotent), not new ones.
    const again = await a.claim();
    expect(again.leases.map((l) => l.epoch)).toEqual([1, 1, 1]);
  });


  it("a claim's grant carries the task spec beside a token naming its hash; heartbeat renewals carry tokens only", async () => {
    const a = await agent("node-a");
    await apply({ name: "web", replicas: 2, env: { GREETING: "hello" }, ports: [{ name: "http", container: 8080 }] });
    const claim = await a.claim();
    expect(claim.leases).toHaveLength(2);
    for (const grant of claim.leases) {
      const claims = decodeJwt(grant.lease);
      expect(Object.keys(claims).sort()).toEqual(["aud", "epoch", "exp", "iat", "iss", "node", "ph", "sub", "ver"]);
      expect(claims).toMatchObject({ sub: grant.taskId, epoch: grant.epoch, ph: await payloadHash(grant.task) });
      expect(grant.task).toMatchObject({ job: "web", image: "img", env: { GREETING: "hello" }, ports: [{ name: "http", container: 8080 }] });
    }
    // Renewals, plain and re-signed, carry no payload; a re-signed token names the same payload hash.
    const phs = new Map(claim.leases.map((g) => [g.taskId, decodeJwt(g.lease)["ph"]]));
    let resigned = 0;
    for (let beat = 0; beat < 300 && resigned === 0; beat++) {
      cp.clock.advance(10_000);
      const r = await a.heartbeat();
      expect(r.renewed).toHaveLength(2);
      for (const g of r.renewed) {
        expect(Object.keys(g).sort()).toEqual(g.lease ? ["epoch", "expiresAt", "lease", "taskId"] : ["epoch", "expiresAt", "taskId"]);
        if (g.lease) {
          resigned++;
          expect(decodeJwt(g.lease)["ph"]).toBe(phs.get(g.taskId));
        }
      }
    }
    expect(resigned).toBe(2);
    // The held leases, re-signed, still come back from a claim with their payloads.
    const again = await a.claim();
    for (const g of again.leases) expect(decodeJwt(g.lease)["ph"]).toBe(await payloadHash(g.task));
  });

  it("a heartbeat that changes only health or restarts is recorded; one that changes nothing only renews", async () => {
    const a = await agent("node-a");
    const { job } = await apply({ name: "web", replicas: 2 });
    await a.claim();
    await a.heartbeat();
    const row = async () =>
      (await cp.store.client.execute({ sql: "SELECT id, state, health, restarts, lease_expires_at FROM tasks WHERE job_id = ? ORDER BY slot", args: [job.id] })).rows.map((r) => ({
        state: String(r["state"]),
        health: r["health"],
        restarts: Number(r["restarts"]),
        expires: Number(r["lease_expires_at"]),
      }));
    const before = await row();
    expect(before.map((r) => [r.state, r.health])).toEqual([["running", "healthy"], ["running", "healthy"]]);

    cp.clock.advance(5_000);
    const unchanged = await a.heartbeat();
    expect(unchanged.renewed.map((g) => g.expiresAt)).toEqual([cp.clock.now() + 15_000, cp.clock.now() + 15_000]);
    expect((await row()).map((r) => r.expires)).toEqual([cp.clock.now() + 15_000, cp.clock.now() + 15_000]);

    // The hollow agent reports "healthy" for running tasks; send the first task as unhealthy with a restart.
    const leases = [...a.leases.values()];
    cp.clock.advance(5_000);
    const res = await cp.app.request("/v1/agent/heartbeat", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${a.credential}` },
      body: JSON.stringify({
        tasks: leases.map((l, i) => ({ lease: l.lease, state: "running", health: i === 0 ? "unhealthy" : "healthy", restarts: i === 0 ? 1 : 0, exitCode: null })),
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { renewed: { taskId: string; expiresAt: number }[]; revoked: unknown[] };
    expect(body.revoked).toEqual([]);
    expect(body.renewed.map((g) => g.expiresAt)).toEqual([cp.clock.now() + 15_000, cp.clock.now() + 15_000]);
    const after = await row();
    expect(after.map((r) => [r.state, r.health, r.restarts, r.expires])).toEqual([
      ["running", "unhealthy", 1, cp.clock.now() + 15_000],
      ["running", "healthy", 0, cp.clock.now() + 15_000],
    ]);
    const events = await cp.store.client.execute({ sql: "SELECT type FROM events WHERE job_id = ? AND type = 'task.restarted'", args: [job.id] });
    expect(events.rows).toHaveLength(1);
  });
  it("re-signs a lease grant only as it nears its end, and the agent keeps working on the new one", async () => {
    const a = await agent("node-a");
    await apply({ name: "long", replicas: 1 });
    await a.claim();
    const first = [...a.leases.values()][0]!;
    const firstToken = first.lease;
    const firstExp = decodeJwt(firstToken).exp!;
    let resigned: string | undefined;
    let beats = 0;
    // Heartbeats every 10 s for up to an hour of clock time; the 1 h grant is re-signed in its last third.
    while (!resigned && beats < 400) {
      cp.clock.advance(10_000);
      const r = await a.heartbeat();
      beats++;
      expect(r.revoked).toEqual([]);
      resigned = r.renewed.find((g) => g.lease)?.lease;
    }
    expect(resigned).toBeDefined();
    const elapsed = beats * 10_000;
    expect(elapsed).toBeGreaterThan(39 * 60_000);
    expect(elapsed).toBeLessThan(42 * 60_000);
    expect(decodeJwt(resigned!).exp!).toBeGreaterThan(firstExp);
    expect(decodeJwt(resigned!)).toMatchObject({ sub: first.taskId, epoch: first.epoch, ph: decodeJwt(firstToken)["ph"] });
    // Past the first grant's end, the agent's reports still count: it presents the new grant.
    while (cp.clock.now() / 1000 < firstExp + 60) {
      cp.clock.advance(10_000);
      const r = await a.heartbeat();
      expect(r.revoked).toEqual([]);
      expect(r.renewed).toHaveLength(1);
    }
    expect([...a.leases.values()][0]?.lease).not.toBe(firstToken);
  });

  it("refuses a lease after its TTL even before any sweep marks it lost (expiry is read from time)", async () => {
    const a = await agent("node-a");
    await apply({ name: "web", replicas: 1, constraints: [{ attribute: "name", value: "node-a" }] });
    await a.claim();
    await a.heartbeat();
    const b = await agent("node-b"); // the rest of the fleet keeps reaching the control plane
    cp.clock.advance(10_000);
    await b.heartbeat();
    cp.clock.advance(5_001);
    const r = await a.heartbeat();
    expect(r.renewed).toEqual([]);
    expect(r.revoked).toMatchObject([{ reason: "expired" }]);
    // Nor does a claim hand the expired lease out again (a replacement, at a higher epoch, may be there).
    expect((await a.claim()).leases.filter((l) => l.epoch === 1)).toEqual([]);
  });

  /** Three tasks leased to node-a, which goes silent; past the TTL they are replaced onto node-b at epoch 2. */
  async function failedOverToB() {
    const a = await agent("node-a");
    const { job } = await apply({ name: "web", replicas: 3 });
    await a.claim();
    await a.heartbeat();
    const b = await agent("node-b");
    const before = await tasksOf(job.id);
    expect(before.every((t) => t.node_id === a.nodeId && t.epoch === 1)).toBe(true);

    // a goes silent; b keeps heartbeating. Past the TTL a's leases lapse and the sweep replaces them.
    for (let i = 0; i < 4; i++) {
      cp.clock.advance(5_000);
      await b.heartbeat();
    }
    await cp.settled(); // b's heartbeats may already have started the sweep in the background
    await cp.evaluator.sweep();
    const after = await tasksOf(job.id);
    expect(after.map((t) => [t.node_id, t.epoch, t.state])).toEqual([
      [b.nodeId, 2, "placed"],
      [b.nodeId, 2, "placed"],
      [b.nodeId, 2, "placed"],
    ]);
    expect(after.map((t) => t.id)).toEqual(before.map((t) => t.id));
    const claimed = await b.claim();
    expect(claimed.leases.map((l) => l.epoch)).toEqual([2, 2, 2]);
    return { a, b, job };
  }

  it("replaces the tasks of an agent that stops heartbeating on another node at a higher epoch, and fences the old agent", async () => {
    const { a, job } = await failedOverToB();
    // The old agent comes back: every report is refused as stale and it is told to stop.
    const stale = await a.heartbeat();
    expect(stale.renewed).toEqual([]);
    expect(stale.revoked.map((r) => r.reason)).toEqual(["stale-epoch", "stale-epoch", "stale-epoch"]);
    expect(stale.revoked[0]?.detail).toContain("stop this container");
    expect(a.leases.size).toBe(0);
    const events = await cp.store.client.execute({ sql: "SELECT type FROM events WHERE job_id = ? AND type IN ('task.lost', 'task.replaced')", args: [job.id] });
    expect(events.rows).toHaveLength(6);
  });

  it("when the old and the new holder report a task in one heartbeat batch, only the new holder's lease is renewed", async () => {
    const { a, b } = await failedOverToB();
    await b.heartbeat(); // running at epoch 2
    cp.clock.advance(1_000);
    // Sent together, the two heartbeats are written in one batch; the new holder's comes first.
    const [fresh, stale] = await Promise.all([b.heartbeat(), a.heartbeat()]);
    expect(fresh.renewed.map((g) => [g.epoch, g.expiresAt])).toEqual([
      [2, cp.clock.now() + 15_000],
      [2, cp.clock.now() + 15_000],
      [2, cp.clock.now() + 15_000],
    ]);
    expect(fresh.revoked).toEqual([]);
    expect(stale.renewed).toEqual([]);
    expect(stale.revoked.map((r) => [r.epoch, r.reason])).toEqual([
      [1, "stale-epoch"],
      [1, "stale-epoch"],
      [1, "stale-epoch"],
    ]);
  });

  it("two heartbeats of one agent written in one batch both renew its leases; neither is told to stop", async () => {
    const a = await agent("node-a");
    await apply({ name: "web", replicas: 2 });
    await a.claim();
    await a.heartbeat();
    cp.clock.advance(1_000);
    const [first, second] = await Promise.all([a.heartbeat(), a.heartbeat()]);
    for (const reply of [first, second]) {
      expect(reply.revoked).toEqual([]);
      expect(reply.renewed.map((g) => g.expiresAt)).toEqual([cp.clock.now() + 15_000, cp.clock.now() + 15_000]);
    }
  });

  it("a running report for a task another instance moved back to leased is renewed, not refused, and the state is caught up", async () => {
    const a = await agent("node-a");
    const { job } = await apply({ name: "web", replicas: 1 });
    await a.claim();
    await a.heartbeat();
    cp.clock.advance(1_000);
    await a.heartbeat(); // this instance now knows the task as running
    // Another instance recorded a "starting" report meanwhile (a container starting again).
    await cp.store.client.execute({ sql: "UPDATE tasks SET state = 'leased' WHERE job_id = ?", args: [job.id] });
    cp.clock.advance(1_000);
    const reply = await a.heartbeat();
    expect(reply.revoked).toEqual([]);
    expect(reply.renewed).toHaveLength(1);
    cp.clock.advance(1_000);
    await a.heartbeat();
    expect((await tasksOf(job.id)).map((t) => t.state)).toEqual(["running"]);
  });

  it("starting reports of two agents in one batch are recorded, and so is each one's next running report", async () => {
    // Room for one task each, so each agent holds one.
    const a = await agent("node-a", { cpu: 1000 });
    const b = await agent("node-b", { cpu: 1000 });
    const { job } = await apply({ name: "web", replicas: 2, resources: { cpu: 600, memory: 256 } });
    await a.claim();
    await b.claim();
    const byNode = async () => new Map((await tasksOf(job.id)).map((t) => [t.node_id, t.state]));
    expect([...a.leases.values(), ...b.leases.values()]).toHaveLength(2);
    await Promise.all([a.heartbeat(), b.heartbeat()]); // both running: this instance knows them as running
    for (const l of [...a.leases.values(), ...b.leases.values()]) l.state = "starting";
    cp.clock.advance(1_000);
    await Promise.all([a.heartbeat(), b.heartbeat()]); // one batch, both starting again
    expect([...(await byNode()).values()]).toEqual(["leased", "leased"]);
    for (const l of b.leases.values()) l.state = "running";
    cp.clock.advance(1_000);
    await b.heartbeat();
    expect((await byNode()).get(b.nodeId)).toBe("running");
  });

  it("a stopped job revokes its leases; the agent reports them stopped", async () => {
    const a = await agent("node-a");
    const { job } = await apply({ name: "web", replicas: 2 });
    await a.claim();
    await a.heartbeat();
    expect((await cp.call("POST", "/v1/namespaces/default/jobs/web/stop")).status).toBe(200);
    const r = await a.heartbeat();
    expect(r.revoked.map((x) => x.reason)).toEqual(["stopped", "stopped"]);
    await a.heartbeat();
    expect((await tasksOf(job.id)).map((t) => [t.state, t.desired])).toEqual([
      ["stopped", "stop"],
      ["stopped", "stop"],
    ]);
  });

  it("a failed batch task is replaced per its reschedule policy; a complete one is left alone", async () => {
    const a = await agent("node-a");
    const { job } = await apply({ name: "once", type: "batch", replicas: 2, reschedule: { attempts: 1, delay: "0s" } });
    await a.claim();
    const [first, second] = [...a.leases.values()];
    first!.state = "complete";
    first!.exitCode = 0;
    second!.state = "failed";
    second!.exitCode = 3;
    await a.heartbeat();
    // Even with a delay of 0 a failed copy's slot waits a second: no copy is re-placed as fast as it fails.
    await cp.evaluator.evaluateJobs([job.id], "test");
    expect((await tasksOf(job.id)).find((t) => t.id === second!.taskId)).toMatchObject({ state: "failed", epoch: 1 });
    cp.clock.advance(1_000);
    await cp.evaluator.evaluateJobs([job.id], "test");
    const rows = await tasksOf(job.id);
    const done = rows.find((t) => t.id === first!.taskId);
    const retried = rows.find((t) => t.id === second!.taskId);
    expect(done).toMatchObject({ state: "complete", epoch: 1 });
    expect(retried).toMatchObject({ state: "placed", epoch: 2 });
    const exit = await cp.store.client.execute({ sql: "SELECT exit_code FROM tasks WHERE id = ?", args: [first!.taskId] });
    expect(exit.rows[0]?.["exit_code"]).toBe(0);
  });
});

describe("fencing and node isolation", () => {
  it("node A cannot renew, report on or claim node B's leases", async () => {
    const a = await agent("node-a");
    const b = await agent("node-b");
    await apply({ name: "web", replicas: 2, constraints: [{ attribute: "name", value: "node-b" }] });
    await b.claim();
    await b.heartbeat();
    const bLeases = [...b.leases.values()];
    expect(bLeases).toHaveLength(2);
    expect((await a.claim()).leases).toEqual([]);
    // a presents b's (valid, signed) leases as its own
    for (const l of bLeases) a.leases.set(l.taskId, { ...l, state: "failed", exitCode: 1 });
    const r = await a.heartbeat();
    expect(r.revoked.map((x) => x.reason)).toEqual(["wrong-node", "wrong-node"]);
    const rows = await cp.store.client.execute("SELECT state, node_id FROM tasks");
    expect(rows.rows.map((x) => [x["state"], x["node_id"]])).toEqual([
      ["running", b.nodeId],
      ["running", b.nodeId],
    ]);
  });

  it("refuses a forged or tampered lease", async () => {
    const a = await agent("node-a");
    await apply({ name: "web", replicas: 1 });
    await a.claim();
    const held = [...a.leases.values()][0]!;
    const [h, p, s] = held.lease.split(".");
    const payload = JSON.parse(Buffer.from(p!, "base64url").toString()) as Record<string, unknown>;
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, epoch: 99 })).toString("base64url")}.${s}`;
    const { keys: otherKeys } = await (await import("../../worker/auth/keys")).generateSigningKey();
    const { signLease } = await import("../../worker/leases/lease-token");
    const forged = await signLease(otherKeys, cp.clock, { taskId: held.taskId, nodeId: a.nodeId, epoch: held.epoch, version: 1, payloadHash: String(payload["ph"]) }, 3_600_000);
    a.leases.set(held.taskId, { ...held, lease: tampered });
    const r1 = await a.heartbeat();
    expect(r1.revoked).toMatchObject([{ reason: "bad-signature", taskId: held.taskId }]);
    a.leases.set(held.taskId, { ...held, lease: forged });
    const r2 = await a.heartbeat();
    expect(r2.revoked).toMatchObject([{ reason: "bad-signature", taskId: held.taskId }]);
    // The genuine lease still works.
    a.leases.set(held.taskId, held);
    expect((await a.heartbeat()).renewed).toHaveLength(1);
  });

  it("a name taken over by another host invalidates the old credential and fences the old host's tasks", async () => {
    const a = await agent("node-a");
    const { job } = await apply({ name: "web", replicas: 2 });
    await a.claim();
    await a.heartbeat();
    cp.clock.advance(60_000); // a falls silent long enough for its name to be taken over
    const newcomer = new HollowAgent(fetcherFor(cp), "node-a");
    await newcomer.enroll(await joinToken());
    expect(newcomer.nodeId).toBe(a.nodeId);
    // The newcomer is not handed the old host's leases: those tasks are lost and get re-placed.
    expect((await tasksOf(job.id)).map((t) => t.state)).toEqual(["lost", "lost"]);
    expect((await newcomer.claim()).leases).toEqual([]);
    // The old host's credential is refused, and its refused heartbeat changes nothing.
    for (const l of a.leases.values()) l.state = "failed";
    await expect(a.heartbeat()).rejects.toMatchObject({ status: 401 });
    expect((await tasksOf(job.id)).map((t) => t.state)).toEqual(["lost", "lost"]);
    await newcomer.heartbeat();
  });

  it("the same host re-enrolling with the credential it held keeps its tasks", async () => {
    const a = await agent("node-a");
    const { job } = await apply({ name: "web", replicas: 2 });
    await a.claim();
    await a.heartbeat();
    cp.clock.advance(2 * 3_600_000); // offline past its credential's life; the whole fleet silent too long for recovery
    const res = await cp.app.request("/v1/agent/enroll", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: await joinToken(), name: "node-a", capacity: { cpu: 4000, memory: 8192 }, previousCredential: a.credential }),
    });
    expect(res.status).toBe(200);
    const enrolled = (await res.json()) as { nodeId: string; credential: string };
    expect(enrolled.nodeId).toBe(a.nodeId);
    expect((await tasksOf(job.id)).map((t) => t.state)).toEqual(["running", "running"]);
  });
});

describe("a silence of the whole fleet", () => {
  it("after a control-plane outage longer than the TTL, the first heartbeat extends every lease: nothing restarts", async () => {
    const a = await agent("node-a");
    const b = await agent("node-b");
    const { job } = await apply({ name: "web", replicas: 4 });
    await a.claim();
    await b.claim();
    await a.heartbeat();
    await b.heartbeat();
    cp.clock.advance(40_000); // nobody reached the control plane: it was the one cut off
    await cp.evaluator.sweep();
    expect((await tasksOf(job.id)).every((t) => t.state === "running" && t.epoch === 1)).toBe(true);
    const first = await a.heartbeat();
    expect(first.revoked).toEqual([]);
    await cp.settled();
    await cp.evaluator.sweep();
    cp.clock.advance(20_000); // b comes back later, inside the grace
    const second = await b.heartbeat();
    expect(second.revoked).toEqual([]);
    expect(second.renewed).toHaveLength(2);
    await cp.settled();
    await cp.evaluator.sweep();
    expect((await tasksOf(job.id)).map((t) => [t.state, t.epoch])).toEqual([
      ["running", 1],
      ["running", 1],
      ["running", 1],
      ["running", 1],
    ]);
  });

  it("a node that died during the silence is replaced once the grace ends", async () => {
    const a = await agent("node-a");
    const b = await agent("node-b");
    const { job } = await apply({ name: "web", replicas: 2 });
    await a.claim();
    await b.claim();
    await a.heartbeat();
    await b.heartbeat();
    cp.clock.advance(40_000);
    await a.heartbeat(); // only a comes back
    for (let i = 0; i < 12; i++) {
      cp.clock.advance(5_000);
      await a.heartbeat();
    }
    await cp.settled();
    await cp.evaluator.sweep();
    const rows = await tasksOf(job.id);
    expect(rows.every((t) => t.node_id === a.nodeId)).toBe(true);
    expect(rows.map((t) => t.epoch).sort()).toEqual([1, 2]);
  });
});

describe("placements on a node that goes quiet", () => {
  it("work placed on a node that never claims it moves on after two missed heartbeats, before the lease TTL", async () => {
    const a = await agent("node-a");
    const b = await agent("node-b");
    const { job } = await apply({ name: "web", replicas: 4 });
    const onA = (await tasksOf(job.id)).filter((t) => t.node_id === a.nodeId);
    expect(onA.length).toBeGreaterThan(0);
    // a never claims; b keeps heartbeating. 11 s on (more than two 5 s intervals, less than the 15 s TTL):
    cp.clock.advance(5_000);
    await b.heartbeat();
    cp.clock.advance(6_000);
    await b.heartbeat();
    await cp.settled();
    await cp.evaluator.sweep();
    const after = await tasksOf(job.id);
    expect(after.filter((t) => t.node_id === a.nodeId)).toEqual([]);
    expect(after.filter((t) => onA.some((o) => o.id === t.id)).map((t) => [t.node_id, t.epoch, t.state])).toEqual(onA.map(() => [b.nodeId, 2, "placed"]));
    // A quiet node takes no new work either.
    const other = await apply({ name: "other", replicas: 1 });
    expect((await tasksOf(other.job.id))[0]?.node_id).toBe(b.nodeId);
  });
});

describe("an apply whose placement keeps losing races", () => {
  it("answers 200 with the evaluation deferred, stores the job, and a later sweep places it", async () => {
    await agent("node-a");
    // Stands in for other instances winning every race: the store refuses every new slot row.
    await cp.store.client.execute(`CREATE TRIGGER refuse_all BEFORE INSERT ON tasks BEGIN SELECT RAISE(ABORT, 'placement refused: node over-committed'); END`);
    const res = await cp.call("POST", "/v1/jobs", { body: { name: "web", image: "img", resources: { cpu: 100, memory: 64 } } });
    const body = (await res.json()) as { job: { id: string }; evaluation?: { deferred?: string } };
    expect(res.status).toBe(200);
    expect(body.evaluation?.deferred).toMatch(/losing races/);
    expect(await tasksOf(body.job.id)).toEqual([]);
    await cp.settled();
    await cp.store.client.execute("DROP TRIGGER refuse_all");
    // Its evaluation row stays, due again a second later: the next tick runs it.
    const [row] = (await cp.store.client.execute("SELECT due_at FROM evaluations")).rows;
    expect(Number(row?.["due_at"])).toBe(cp.clock.now() + 1_000);
    cp.clock.advance(1_000);
    await cp.tick();
    expect((await tasksOf(body.job.id)).map((t) => t.state)).toEqual(["placed"]);
  });
});

describe("lease expiry", () => {
  it("never moves back when the fleet shrinks and the TTL with it: an agent that missed the reply still holds a valid lease", async () => {
    await cp.close();
    // One heartbeat a second for the whole fleet: 4 nodes beat every 4 s with a 12 s TTL, 2 nodes every 2 s with 6 s.
    cp = await createTestControlPlane({ config: { heartbeatInterval: "1s", leaseTtl: "3s", maxHeartbeatsPerSecond: 1 } });
    const fleet = [await agent("node-a"), await agent("node-b"), await agent("node-c"), await agent("node-d")];
    const [a, b] = fleet as [HollowAgent, HollowAgent];
    // The fleet size is cached for 30 s: let it be counted again with all four ready.
    cp.clock.advance(31_000);
    await cp.settled();
    await cp.store.client.execute("UPDATE nodes SET status = 'ready'");
    for (const n of fleet) await n.heartbeat();
    await apply({ name: "web", replicas: 1, resources: { cpu: 100, memory: 64 }, constraints: [{ attribute: "name", operator: "=", value: "node-a" }] });
    await a.claim();
    const stored = async () => Number((await cp.store.client.execute("SELECT lease_expires_at AS e FROM tasks")).rows[0]?.["e"]);
    const told = (await a.heartbeat()).renewed[0]!.expiresAt;
    expect(told - cp.clock.now()).toBe(12_000);
    await cp.store.client.execute("UPDATE nodes SET status = 'down' WHERE name IN ('node-c', 'node-d')");
    // Past the 30 s the fleet size is cached for, with a and b beating within the TTL.
    let best = told;
    for (let i = 0; i < 11; i++) {
      cp.clock.advance(3_000);
      await b.heartbeat();
      const reply = await a.heartbeat();
      best = Math.max(best, reply.renewed[0]!.expiresAt);
      expect(await stored()).toBeGreaterThanOrEqual(best);
    }
    expect(a.leaseTtlMs).toBe(6_000);
  });
});

describe("evaluations in one instance", () => {
  it("run one at a time: two jobs competing for the last room do not refuse each other's plan", async () => {
    await agent("node-a", { cpu: 500, memory: 512 });
    await cp.settled();
    // Stored without evaluating, then evaluated at once: room for one of them.
    const stored = await Promise.all(
      ["first", "second"].map((name) => applyJob(cp.store, cp.clock.now(), "test", jobSpecSchema.parse({ name, image: "img", resources: { cpu: 400, memory: 256 } }))),
    );
    const [a, b] = await Promise.all(stored.map((r) => cp.evaluator.evaluateJobs([r.job.id], "test")));
    expect([a!.placed, b!.placed]).toEqual([1, 0]);
    expect(b!.unplaced.map((u) => u.reason)).toHaveLength(1);
    // The second read the first's placement: one attempt each, no plan refused by the store.
    expect([a!.attempts, b!.attempts]).toEqual([1, 1]);
  });
});

describe("node lifecycle", () => {
  it("drains a node stop-first: a task moves once its holder reports it stopped, under the job's parallelism, then all at once past the deadline", async () => {
    const a = await agent("node-a");
    const { job } = await apply({ name: "web", replicas: 3, update: { parallelism: 1, minHealthy: "0s" } });
    await a.claim();
    await a.heartbeat();
    const b = await agent("node-b");
    const drain = await cp.call("POST", "/v1/nodes/node-a/drain", { body: { deadline: "10m" } });
    expect(drain.status).toBe(200);
    expect(((await drain.json()) as { node: { state: string } }).node.state).toBe("draining");
    // One task (the parallelism) is asked to stop where it runs; nothing starts for its slot yet.
    let rows = await tasksOf(job.id);
    expect(rows.filter((t) => t.desired === "stop")).toHaveLength(1);
    expect(rows.filter((t) => t.node_id === b.nodeId)).toHaveLength(0);
    // New work never lands on a draining node.
    const other = await apply({ name: "other", replicas: 1 });
    expect((await tasksOf(other.job.id))[0]?.node_id).toBe(b.nodeId);

    // node-a is told to stop it, reports it stopped: its slot is placed on node-b.
    expect((await a.heartbeat()).revoked.map((r) => r.reason)).toEqual(["stopped"]);
    await a.heartbeat();
    await cp.settled();
    rows = await tasksOf(job.id);
    expect(rows.filter((t) => t.node_id === b.nodeId && t.state === "placed")).toHaveLength(1);
    await b.claim();
    await b.heartbeat();
    await cp.settled();
    // The operator brings the deadline forward to now: past it, the other two stop at once, and move once
    // reported stopped.
    expect((await cp.call("POST", "/v1/nodes/node-a/drain", { body: { deadline: "0s" } })).status).toBe(200);
    cp.clock.advance(1);
    await cp.evaluator.sweep();
    // (The hollow agent still reports the first one, which it stopped before: that is refused as stopped too.)
    expect((await a.heartbeat()).revoked.map((r) => r.reason)).toEqual(["stopped", "stopped", "stopped"]);
    await a.heartbeat();
    await cp.settled();
    rows = (await tasksOf(job.id)).filter((t) => t.desired === "run");
    expect(rows.map((t) => t.node_id)).toEqual([b.nodeId, b.nodeId, b.nodeId]);
    await b.claim();
    await b.heartbeat();
    await cp.settled();
    await cp.evaluator.sweep();
    const node = (await (await cp.call("GET", "/v1/nodes/node-a")).json()) as { node: { state: string } };
    expect(node.node.state).toBe("ineligible");
    expect((await cp.call("POST", "/v1/nodes/node-a/eligibility", { body: { eligible: true } })).status).toBe(200);
    const back = (await (await cp.call("GET", "/v1/nodes/node-a")).json()) as { node: { state: string } };
    expect(back.node.state).toBe("ready");
  });

  it("an ineligible node receives nothing new; waiting slots are placed when capacity appears", async () => {
    const a = await agent("node-a", { cpu: 1000, memory: 1024 });
    expect((await cp.call("POST", `/v1/nodes/${a.nodeId}/eligibility`, { body: { eligible: false } })).status).toBe(200);
    const { job, evaluation } = await apply({ name: "web", replicas: 1 });
    expect(evaluation?.placed).toBe(0);
    expect(evaluation?.unplaced[0]?.reason).toContain("ineligible");
    expect((await tasksOf(job.id))[0]).toMatchObject({ state: "pending", node_id: null });
    const b = await agent("node-b");
    await cp.settled(); // the node-ready evaluation runs after the heartbeat reply
    expect((await tasksOf(job.id))[0]).toMatchObject({ state: "placed", node_id: b.nodeId });
  });

  it("reports why a placement failed", async () => {
    await agent("node-a", { region: "us", cpu: 1000 });
    await agent("node-b", { region: "eu", cpu: 1000 });
    const r = await apply({ name: "big", replicas: 1, resources: { cpu: 2000, memory: 64 }, constraints: [{ attribute: "region", value: "eu" }] });
    expect(r.evaluation?.unplaced[0]?.reason).toMatch(/2000m cpu/);
    expect(r.evaluation?.unplaced[0]?.reason).toMatch(/1 node.*cpu/);
  });
});
