// Database round trips per agent request: the hot paths (heartbeat, claim) are one batch each.
import type { Client } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HollowAgent, type Fetcher } from "../../bench/hollow-agent";
import { timingFor } from "../../worker/leases/timing";
import { parseConfig } from "../../worker/config";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";

let cp: TestControlPlane;
let trips = 0;

/** Counts every call that reaches the database (execute, batch, transaction) on the control plane's client. */
function countTrips(client: Client): void {
  for (const method of ["execute", "batch", "transaction", "executeMultiple"] as const) {
    const original = client[method].bind(client) as (...args: unknown[]) => Promise<unknown>;
    (client as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      trips++;
      return original(...args);
    };
  }
}

beforeEach(async () => {
  cp = await createTestControlPlane();
  countTrips(cp.store.client);
});
afterEach(() => cp.close());

async function measure(work: () => Promise<unknown>): Promise<number> {
  await cp.settled();
  trips = 0;
  await work();
  await cp.settled();
  return trips;
}

describe("round trips per request", () => {
  it("a heartbeat renewing 10 leases is one batch; a claim of 10 leases is one batch", async () => {
    const fetcher: Fetcher = async (path, init) => cp.app.request(path, init);
    const token = ((await (await cp.call("POST", "/v1/join-tokens", { body: {} })).json()) as { token: string }).token;
    const agent = new HollowAgent(fetcher, "n1", { cpu: 8000, memory: 16384 });
    // The batch, plus the fleet-size read at most every 30 s, plus (once per instance) raising the store's clock.
    expect(await measure(() => agent.enroll(token))).toBeLessThanOrEqual(3);
    await agent.heartbeat();
    await cp.settled();
    const apply = await measure(() => cp.call("POST", "/v1/jobs", { body: { name: "web", image: "i", replicas: 10, resources: { cpu: 100, memory: 64 } } }));
    // apply: check the token, read the job, check the namespace, write the version with its evaluation row
    // (taken in the same batch); evaluate: one read batch, one write batch; complete the evaluation row.
    expect(apply).toBeLessThanOrEqual(7);
    expect(await measure(() => agent.claim())).toBe(1);
    expect(agent.leases.size).toBe(10);
    // The first report of the tasks running is news for their deployment: it asks for an evaluation.
    await agent.heartbeat();
    await cp.settled();
    cp.clock.advance(2_000); // past the overdue probe's spacing: the probe rides in the same batch
    expect(await measure(() => agent.heartbeat())).toBe(1);
    expect(await measure(() => agent.heartbeat())).toBe(1);
  });
});

describe("group commit of heartbeats", () => {
  it("heartbeats arriving together share batches, and each node gets only its own answers", async () => {
    const fetcher: Fetcher = async (path, init) => cp.app.request(path, init);
    const token = ((await (await cp.call("POST", "/v1/join-tokens", { body: {} })).json()) as { token: string }).token;
    const agents = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const a = new HollowAgent(fetcher, `g${i}`, { cpu: 1000, memory: 4096 });
        await a.enroll(token);
        await a.heartbeat();
        return a;
      }),
    );
    await cp.call("POST", "/v1/jobs", { body: { name: "web", image: "i", replicas: 100, resources: { cpu: 200, memory: 64 } } });
    for (const a of agents) await a.claim();
    // One agent presents a copy of another node's lease: in a shared batch it must still be refused.
    const [first, second] = agents;
    const stolen = [...second!.leases.values()][0]!;
    first!.leases.set(stolen.taskId, { ...stolen });
    const batches = await measure(() => Promise.all(agents.map((a) => a.heartbeat())));
    expect(batches).toBeLessThan(agents.length);
    for (const a of agents) expect(a.revocations.filter((r) => r.reason !== "wrong-node")).toEqual([]);
    expect(first!.revocations).toMatchObject([{ taskId: stolen.taskId, reason: "wrong-node" }]);
    const rows = await cp.store.client.execute("SELECT node_id, state, count(*) AS n FROM tasks GROUP BY node_id, state");
    expect(rows.rows.every((r) => r["state"] === "running")).toBe(true);
    const held = new Map(agents.map((a) => [a.nodeId, [...a.leases.keys()].filter((id) => id !== stolen.taskId || a === second).length]));
    for (const r of rows.rows) expect(Number(r["n"])).toBe(held.get(String(r["node_id"])));
  });
});

describe("fleet timing", () => {
  it("scales the heartbeat interval and lease TTL with fleet size, keeping their ratio", () => {
    const config = parseConfig({ heartbeatInterval: "5s", leaseTtl: "15s", maxHeartbeatsPerSecond: 2000 });
    expect(timingFor(config, 10)).toEqual({ heartbeatIntervalMs: 5_000, leaseTtlMs: 15_000 });
    expect(timingFor(config, 10_000)).toEqual({ heartbeatIntervalMs: 5_000, leaseTtlMs: 15_000 });
    expect(timingFor(config, 40_000)).toEqual({ heartbeatIntervalMs: 20_000, leaseTtlMs: 60_000 });
  });
});
