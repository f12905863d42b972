// Log follows against a real libSQL file, with hollow agents and a manual clock: the stream relays chunks in
// order and deletes each once sent; chunk writes are conditional (node, sequence, open follow); a follow
// closes when its client goes away, and lapses at its expiry when its stream handler dies without closing it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FollowMessage, FollowOrder, RequestPollResponse } from "../../api/agent-requests";
import { HollowAgent, type Fetcher } from "../../bench/hollow-agent";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { SseReader } from "../support/sse";
import { runFollowStream, type FollowSink } from "../../worker/agent-requests/follow-stream";
import { auditRows, expectProblem } from "./helpers";

let cp: TestControlPlane;
const extra: TestControlPlane[] = [];
const readers: SseReader[] = [];

beforeEach(async () => {
  cp = await createTestControlPlane();
});
afterEach(async () => {
  for (const r of readers.splice(0)) await r.cancel();
  await cp.settled();
  cp.close();
  for (const other of extra.splice(0)) other.close();
});

const fetcherFor = (plane: TestControlPlane): Fetcher => async (path, init) => plane.app.request(path, init);

async function agent(name: string, plane = cp): Promise<HollowAgent> {
  const joined = await plane.call("POST", "/v1/join-tokens", { body: {} });
  const a = new HollowAgent(fetcherFor(plane), name);
  await a.enroll(((await joined.json()) as { token: string }).token);
  await a.heartbeat();
  return a;
}

/** A job of `replicas` on the agents there are, claimed and reported running; its task ids by slot. */
async function runningJob(agents: HollowAgent[], replicas = 1, plane = cp): Promise<string[]> {
  const res = await plane.call("POST", "/v1/jobs", { body: { name: "web", image: "img", replicas, resources: { cpu: 100, memory: 64 } } });
  expect(res.status, await res.clone().text()).toBe(200);
  for (const a of agents) {
    await a.claim();
    await a.heartbeat();
  }
  const rows = await plane.store.client.execute("SELECT id FROM tasks WHERE job_id = 'default/web' ORDER BY slot");
  return rows.rows.map((r) => String(r["id"]));
}

async function follow(query = "", opts: { plane?: TestControlPlane; token?: string } = {}): Promise<SseReader> {
  const res = await (opts.plane ?? cp).call("GET", `/v1/namespaces/default/jobs/web/logs/follow${query}`, opts.token ? { token: opts.token } : {});
  expect(res.status, res.status === 200 ? "" : await res.clone().text()).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const reader = new SseReader(res);
  readers.push(reader);
  return reader;
}

async function chunk(a: HollowAgent, id: string, body: Record<string, unknown>, plane = cp): Promise<Response> {
  return plane.app.request(`/v1/agent/follows/${id}/chunks`, {
    method: "POST",
    headers: { authorization: `Bearer ${a.credential}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function poll(a: HollowAgent, plane = cp): Promise<RequestPollResponse> {
  const res = await plane.app.request("/v1/agent/requests", { method: "POST", headers: { authorization: `Bearer ${a.credential}` } });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as RequestPollResponse;
}

async function followRow(id: string, plane = cp): Promise<{ status: string; expiresAt: number; nextSeq: number } | undefined> {
  const rs = await plane.store.client.execute({ sql: "SELECT status, expires_at, next_seq FROM agent_requests WHERE id = ?", args: [id] });
  const r = rs.rows[0];
  return r ? { status: String(r["status"]), expiresAt: Number(r["expires_at"]), nextSeq: Number(r["next_seq"]) } : undefined;
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The agent's next heartbeat hands it exactly one follow. */
async function handedFollow(a: HollowAgent): Promise<FollowOrder> {
  const reply = await a.heartbeat();
  expect(reply.follows).toHaveLength(1);
  return reply.follows![0]!;
}

describe("log follow stream", () => {
  it("hands the follow to its agent once, then relays its chunks in order and deletes each once sent", async () => {
    const a = await agent("node-a");
    const [taskId] = await runningJob([a]);
    const stream = await follow("?tail=5&timestamps=1&stderr=1");
    const first = (await stream.next()) as { kind: "data"; data: FollowMessage };
    expect(first.data).toMatchObject({ type: "status", taskId, nodeId: a.nodeId, message: expect.stringContaining("waiting for the agent on node-a") });

    const order = await handedFollow(a);
    expect(order).toEqual({ id: expect.any(String), taskId, tail: 5, timestamps: true, stream: "stderr", nextSeq: 0 });
    expect((await a.heartbeat()).follows).toBeUndefined();
    expect((await followRow(order.id))?.status).toBe("sent");

    expect((await chunk(a, order.id, { seq: 0, output: [{ stream: "stderr", text: "one\n" }] })).status).toBe(200);
    expect((await chunk(a, order.id, { seq: 1, output: [{ stream: "stdout", text: "two\nthree\n" }, { stream: "stderr", text: "four\n" }], status: "container restarted" })).status).toBe(200);
    expect((await chunk(a, order.id, { seq: 2, output: [{ stream: "stdout", text: "five\n" }] })).status).toBe(200);
    const got = await stream.until<FollowMessage>((m) => m.type === "output" && m.text === "five\n");
    expect(got).toEqual([
      { type: "output", taskId, nodeId: a.nodeId, stream: "stderr", text: "one\n" },
      { type: "output", taskId, nodeId: a.nodeId, stream: "stdout", text: "two\nthree\n" },
      { type: "output", taskId, nodeId: a.nodeId, stream: "stderr", text: "four\n" },
      { type: "status", taskId, nodeId: a.nodeId, message: "container restarted" },
      { type: "output", taskId, nodeId: a.nodeId, stream: "stdout", text: "five\n" },
    ]);
    await eventually("the sent chunks to be deleted", async () => {
      const rs = await cp.store.client.execute({ sql: "SELECT count(*) AS n FROM follow_chunks WHERE follow_id = ?", args: [order.id] });
      return Number(rs.rows[0]?.["n"]) === 0 ? true : undefined;
    });
    expect((await followRow(order.id))?.nextSeq).toBe(3);
    const audit = (await auditRows(cp)).filter((r) => r.action === "logs.follow");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: "bootstrap-admin", namespace: "default", target: "default/web" });
    expect(JSON.parse(audit[0]!.detail!)).toEqual({ tasks: 1, tail: 5, timestamps: true, stream: "stderr" });
  });

  it("follows every task of the job on a node, or the one --task names by prefix", async () => {
    const a = await agent("node-a");
    const tasks = await runningJob([a], 2);
    const both = await follow("?tail=0");
    expect((await both.until<FollowMessage>((_m) => both.seen.length >= 2)).map((m) => m.taskId).sort()).toEqual([...tasks].sort());
    expect(((await a.heartbeat()).follows ?? []).map((f) => f.taskId).sort()).toEqual([...tasks].sort());
    const one = await follow(`?task=${tasks[1]!.slice(0, 6)}`);
    expect(((await one.next()) as { data: FollowMessage }).data.taskId).toBe(tasks[1]);
    const none = await cp.call("GET", "/v1/namespaces/default/jobs/web/logs/follow?task=zzzz");
    expect((await expectProblem(none, 404, "not-found")).detail).toContain("has no task zzzz");
  });

  it("says when the follow's agent is not connected", async () => {
    const a = await agent("node-a");
    await runningJob([a]);
    cp.clock.advance(20_000); // past the lease TTL (15 s) without a heartbeat
    const stream = await follow();
    const said = await stream.until<FollowMessage>((m) => m.type === "status" && m.message.startsWith("agent not connected"));
    expect(said.at(-1)).toMatchObject({ message: expect.stringMatching(/^agent not connected \(node node-a: last heartbeat 20s ago\)$/) });
  });
});

describe("chunk writes", () => {
  it("are refused from another node (403), out of sequence or twice (409), for an unknown follow (404) and once it closed (410)", async () => {
    const a = await agent("node-a");
    const b = await agent("node-b");
    await runningJob([a, b]);
    const holder = (await cp.store.client.execute("SELECT node_id FROM tasks")).rows[0]?.["node_id"] === a.nodeId ? a : b;
    const other = holder === a ? b : a;
    const stream = await follow();
    await stream.next();
    const order = await handedFollow(holder);

    await expectProblem(await chunk(other, order.id, { seq: 0, output: [{ stream: "stdout", text: "spoofed\n" }] }), 403, "forbidden");
    const early = await expectProblem(await chunk(holder, order.id, { seq: 1, output: [{ stream: "stdout", text: "skipped one\n" }] }), 409, "conflict");
    expect(early.detail).toBe("chunk 1 is out of sequence: the follow takes chunk 0 next");
    expect((await chunk(holder, order.id, { seq: 0, output: [{ stream: "stdout", text: "real\n" }] })).status).toBe(200);
    await expectProblem(await chunk(holder, order.id, { seq: 0, output: [{ stream: "stdout", text: "again\n" }] }), 409, "conflict");
    await expectProblem(await chunk(holder, "no-such-follow", { seq: 0 }), 404, "not-found");
    const relayed = await stream.until<FollowMessage>((m) => m.type === "output");
    expect(relayed.filter((m) => m.type === "output").map((m) => (m as { text: string }).text)).toEqual(["real\n"]);

    // The client goes away: the handler closes the follow, and the agent is told at its next chunk and poll.
    await stream.cancel();
    await eventually("the follow to close", async () => ((await followRow(order.id))?.status === "closed" ? true : undefined));
    const closed = await expectProblem(await chunk(holder, order.id, { seq: 1, output: [{ stream: "stdout", text: "late\n" }] }), 410, "gone");
    expect(closed.detail).toBe("the follow is closed: stop following");
    expect((await poll(holder)).follows).toEqual([]);
  });

  it("stop at an ended chunk: the stream says why and takes no more", async () => {
    const a = await agent("node-a");
    const [taskId] = await runningJob([a]);
    const stream = await follow();
    await stream.next();
    const order = await handedFollow(a);
    expect((await chunk(a, order.id, { seq: 0, output: [{ stream: "stdout", text: "last words\n" }], status: "task stopped", ended: true })).status).toBe(200);
    const got = await stream.until<FollowMessage>((m) => m.type === "status" && m.message === "task stopped");
    expect(got.slice(-2)).toEqual([
      { type: "output", taskId, nodeId: a.nodeId, stream: "stdout", text: "last words\n" },
      { type: "status", taskId, nodeId: a.nodeId, message: "task stopped" },
    ]);
    await expectProblem(await chunk(a, order.id, { seq: 1, output: [{ stream: "stdout", text: "more\n" }] }), 410, "gone");
    expect((await poll(a)).follows).toEqual([]);
  });
});

describe("expiry", () => {
  it("a follow whose stream handler died lapses: never handed out, chunks refused, gone from the poll", async () => {
    const dir = mkdtempSync(join(tmpdir(), "leasehold-follow-"));
    const doomed = await createTestControlPlane({ dir, keys: cp.keys, clock: cp.clock });
    const survivor = await createTestControlPlane({ dir, keys: cp.keys, clock: cp.clock });
    extra.push(survivor);
    try {
      const a = await agent("node-a", survivor);
      await runningJob([a], 1, survivor);
      const handed = await follow("", { plane: doomed });
      await handed.next();
      const order = await handedFollow(a);
      const waiting = await follow("", { plane: doomed });
      await waiting.next();
      // The instance serving both streams goes away without closing them: its store client is gone.
      doomed.close();
      cp.clock.advance(11_000);
      expect((await a.heartbeat()).follows).toBeUndefined();
      const lapsed = await expectProblem(await chunk(a, order.id, { seq: 0, output: [{ stream: "stdout", text: "late\n" }] }, survivor), 410, "gone");
      expect(lapsed.detail).toBe("the follow lapsed: stop following");
      expect((await poll(a, survivor)).follows).toEqual([]);
      const statuses = await survivor.store.client.execute("SELECT status FROM agent_requests ORDER BY created_at");
      expect(statuses.rows.map((r) => r["status"]).sort()).toEqual(["pending", "sent"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the stream loop", () => {
  it("renews its follows while connected, comments when silent, and closes them when the client goes away", async () => {
    const now = cp.clock.now();
    await cp.store.client.execute({
      sql: `INSERT INTO agent_requests (id, kind, namespace, job_id, task_id, node_id, status, spec, expires_at, created_at, updated_at)
            VALUES ('f1', 'follow', 'default', 'default/web', 't1', 'n1', 'sent', '{"tail":0}', ?, ?, ?)`,
      args: [now + 1_000, now, now],
    });
    const events: string[] = [];
    let closed = false;
    const sink: FollowSink = {
      get closed() {
        return closed;
      },
      send: async (m) => void events.push(`${m.type}`),
      comment: async (text) => void events.push(`: ${text}`),
      pause: (ms) => new Promise((r) => setTimeout(r, ms)),
    };
    const follower = { id: "f1", taskId: "t1", nodeId: "n1", nodeName: "node-1", slot: 0 };
    const run = runFollowStream(cp.deps, sink, [follower], { leaseTtlMs: 15_000, timing: { pollMs: 20, renewMs: 50, ttlMs: 1_000, keepaliveMs: 150 } });
    cp.clock.advance(500);
    await eventually("a renewal past the first expiry", async () => ((await followRow("f1"))!.expiresAt === cp.clock.now() + 1_000 ? true : undefined));
    await eventually("a keepalive comment", async () => (events.includes(": keepalive") ? true : undefined));
    expect(events[0]).toBe("status");
    closed = true;
    await run;
    expect((await followRow("f1"))?.status).toBe("closed");
    // Nothing renews it any more: it lapses at the expiry last written.
    const last = (await followRow("f1"))!.expiresAt;
    await new Promise((r) => setTimeout(r, 150));
    expect((await followRow("f1"))!.expiresAt).toBe(last);
  });
});

describe("bad input", () => {
  it("is refused with field paths and writes nothing", async () => {
    const a = await agent("node-a");
    await runningJob([a]);
    const before = await auditRows(cp);
    const paths = async (res: Response, status = 400) => ((await expectProblem(res, status, "validation")).errors ?? []).map((e) => e.path);
    expect(await paths(await cp.call("GET", "/v1/namespaces/default/jobs/web/logs/follow?tail=-1"))).toEqual(["query.tail"]);
    expect(await paths(await cp.call("GET", "/v1/namespaces/default/jobs/web/logs/follow?since=yesterday"))).toEqual(["query.since"]);
    expect(await paths(await cp.call("GET", "/v1/namespaces/default/jobs/web/logs/follow?stderr=maybe"))).toEqual(["query.stderr"]);
    expect(await paths(await cp.call("POST", "/v1/namespaces/default/jobs/web/logs", { body: { since: -5, stream: "stdin" } }))).toEqual(["since", "stream"]);
    expect(await paths(await chunk(a, "x", { seq: -1, output: [{ stream: "stdin", text: "" }], colour: "red" }))).toEqual(["seq", "output.0.stream", "output.0.text", "colour"]);
    expect(await auditRows(cp)).toEqual(before);
    const rows = await cp.store.client.execute("SELECT (SELECT count(*) FROM agent_requests) + (SELECT count(*) FROM log_requests) AS n");
    expect(Number(rows.rows[0]?.["n"])).toBe(0);
  });

  it("a follow needs the viewer role in the job's namespace", async () => {
    const a = await agent("node-a");
    await runningJob([a]);
    const elsewhere = await cp.token({ other: "admin" }, "elsewhere");
    await expectProblem(await cp.call("GET", "/v1/namespaces/default/jobs/web/logs/follow", { token: elsewhere }), 403, "forbidden");
    const viewer = await cp.token({ default: "viewer" }, "viewer");
    const stream = await follow("", { token: viewer });
    expect(((await stream.next()) as { data: FollowMessage }).data.type).toBe("status");
  });
});

describe("log tails", () => {
  it("carry since, timestamps and the stream to the agent, and the old request shape still works", async () => {
    const a = await agent("node-a");
    const [taskId] = await runningJob([a]);
    const asked = await cp.call("POST", "/v1/namespaces/default/jobs/web/logs", { body: { since: 300_000, timestamps: true, stream: "stderr" } });
    expect(asked.status).toBe(202);
    const plain = await cp.call("POST", "/v1/namespaces/default/jobs/web/logs", { body: { tail: 20 } });
    expect(plain.status).toBe(202);
    const reply = await a.heartbeat();
    expect(reply.logRequests.map(({ id: _id, ...r }) => r)).toEqual(
      expect.arrayContaining([
        { taskId, tail: 10_000, sinceMs: 300_000, timestamps: true, stream: "stderr" },
        { taskId, tail: 20 },
      ]),
    );
  });
});
