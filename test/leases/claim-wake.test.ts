// A long-polling claim answers as soon as its node has new work, whichever instance made it: two control
// planes on one database file, the claim waiting on B while A places work for its node or stops a job
// running on it. Nothing is shared between them but the store (each has its own in-process wake-ups).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ClaimResponse } from "../../api/agent-protocol";
import { HollowAgent, type Fetcher } from "../../bench/hollow-agent";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";

let a: TestControlPlane;
let b: TestControlPlane;
/** Ends the claims a test left waiting. */
let claims: AbortController;

/** Well under the heartbeat interval (5 s): the reply must not wait for a heartbeat or a per-claim poll. */
const PROMPT_MS = 1_500;

const fetcherFor = (cp: TestControlPlane): Fetcher => async (path, init) => cp.app.request(path, init);

beforeEach(async () => {
  claims = new AbortController();
  a = await createTestControlPlane();
  // The same file, signing key and clock: one cluster, two instances.
  b = await createTestControlPlane({ dir: a.dir, keys: a.keys, clock: a.clock });
});
afterEach(() => {
  claims.abort();
  b.close();
  a.close();
});

async function enrolled(name: string): Promise<HollowAgent> {
  const res = await a.call("POST", "/v1/join-tokens", { body: {} });
  const { token } = (await res.json()) as { token: string };
  const agent = new HollowAgent(fetcherFor(a), name, { cpu: 2000, memory: 4096 });
  await agent.enroll(token);
  await agent.heartbeat();
  return agent;
}

/** A claim sent to `cp`, with its body as given, and when its reply came. */
function claimOn(cp: TestControlPlane, agent: HollowAgent, body: Record<string, unknown>, signal = claims.signal): Promise<{ reply: ClaimResponse; at: number }> {
  return Promise.resolve(
    cp.app.request("/v1/agent/claim", {
      method: "POST",
      headers: { authorization: `Bearer ${agent.credential}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.any([signal, claims.signal]),
    }),
  ).then(async (res) => {
    const text = await res.text();
    if (res.status !== 200) throw new Error(`claim: ${res.status} ${text}`);
    return { reply: JSON.parse(text) as ClaimResponse, at: performance.now() };
  });
}

async function apply(cp: TestControlPlane, name: string): Promise<void> {
  const res = await cp.call("POST", "/v1/jobs", { body: { name, image: "img", resources: { cpu: 100, memory: 64 } } });
  expect(res.status, await res.clone().text()).toBe(200);
}

/** The claim's answer, or a failure once it has waited twice the time it may take. */
function answered<T>(claim: Promise<T>): Promise<T> {
  return Promise.race([claim, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${2 * PROMPT_MS} ms`)), 2 * PROMPT_MS))]);
}

/** Until B's claim is waiting (its first read done), so the change below happens during the wait. */
const settle = () => new Promise((r) => setTimeout(r, 300));

describe("a claim long-polling on one instance", () => {
  it("answers within well under a heartbeat interval when another instance places work for its node", async () => {
    const agent = await enrolled("node-1");
    const first = await claimOn(b, agent, { waitMs: 0 });
    expect(first.reply.leases).toEqual([]);

    const waiting = claimOn(b, agent, { waitMs: 20_000, workSeq: first.reply.workSeq });
    await settle();
    const appliedAt = performance.now();
    await apply(a, "web");
    const { reply, at } = await answered(waiting);
    expect(at - appliedAt).toBeLessThan(PROMPT_MS);
    expect(reply.leases).toHaveLength(1);
    expect(reply.workSeq).toBeGreaterThan(first.reply.workSeq ?? Number.POSITIVE_INFINITY);
  });

  it("answers with the stop order when another instance stops a job running on its node; the lease is left out", async () => {
    const agent = await enrolled("node-1");
    await apply(a, "web");
    const claimed = await agent.claim();
    expect(claimed.leases).toHaveLength(1);
    const taskId = claimed.leases[0]!.taskId;
    await agent.heartbeat();

    const before = await claimOn(b, agent, { waitMs: 0 });
    expect(before.reply.stops ?? []).toEqual([]);
    const waiting = claimOn(b, agent, { waitMs: 20_000, workSeq: before.reply.workSeq });
    await settle();
    const stoppedAt = performance.now();
    const res = await a.call("POST", "/v1/namespaces/default/jobs/web/stop");
    expect(res.status, await res.clone().text()).toBe(200);
    const { reply, at } = await answered(waiting);
    expect(at - stoppedAt).toBeLessThan(PROMPT_MS);
    expect(reply.stops).toEqual([{ taskId, epoch: claimed.leases[0]!.epoch, reason: "stopped", detail: expect.any(String) }]);
    // Fencing: a copy asked to stop is no longer a lease the node holds.
    expect(reply.leases).toEqual([]);
    // The heartbeat still carries the stop: nothing depends on the claim alone.
    const beat = await agent.heartbeat();
    expect(beat.revoked.map((r) => [r.taskId, r.reason])).toEqual([[taskId, "stopped"]]);
  });

  it("answers at once when work came since the marker the agent sent, and waits when none did", async () => {
    const agent = await enrolled("node-1");
    await apply(a, "web");
    await agent.claim();
    await agent.heartbeat();
    const seen = await claimOn(b, agent, { waitMs: 0 });
    const stop = await a.call("POST", "/v1/namespaces/default/jobs/web/stop");
    expect(stop.status).toBe(200);

    // The stop came between two claims: the next one, sent with the older marker, has it at once.
    const sentAt = performance.now();
    const late = await answered(claimOn(b, agent, { waitMs: 20_000, workSeq: seen.reply.workSeq }));
    expect(performance.now() - sentAt).toBeLessThan(PROMPT_MS);
    expect(late.reply.stops?.map((s) => s.taskId)).toHaveLength(1);

    // Sent with the marker of that reply, the claim waits: a stop already told is no reason to answer.
    const abort = new AbortController();
    const current = claimOn(b, agent, { waitMs: 20_000, workSeq: late.reply.workSeq }, abort.signal);
    const outcome = await Promise.race([current.then(() => "answered"), new Promise((r) => setTimeout(() => r("waiting"), 1_000))]);
    expect(outcome).toBe("waiting");
    abort.abort();
    await current.catch(() => undefined);
  });
});
