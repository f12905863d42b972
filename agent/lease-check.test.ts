// The agent acts only on leases signed by its pinned key, for its own node, and unexpired.
import { describe, expect, it } from "vitest";
import { generateSigningKey, jwks } from "../worker/auth/keys";
import { ManualClock } from "../worker/clock";
import { signLease } from "../worker/leases/lease-token";
import type { TaskSpec } from "../api/agent-protocol";
import { createLeaseChecker } from "./lease-check";

const task = { jobId: "default/web", namespace: "default", job: "web", slot: 0, version: 1, type: "service", image: "img", env: {}, resources: { cpu: 100, memory: 64 }, ports: [], restart: { mode: "always", attempts: 3, intervalMs: 60_000, delayMs: 1_000 }, disconnect: { policy: "keep", afterMs: 60_000 }, stopGraceMs: 1_000 } satisfies TaskSpec;

describe("lease checks on the agent", () => {
  it("accepts its own lease, refuses another node's, a forged one, an unsigned one and an expired one", async () => {
    const clock = new ManualClock();
    const { keys } = await generateSigningKey();
    const { keys: other } = await generateSigningKey();
    const check = createLeaseChecker(jwks(keys), "node-a");
    const lease = await signLease(keys, clock, { taskId: "t1", nodeId: "node-a", epoch: 3, version: 1, task }, 60_000);

    const ok = await check(lease, clock.now());
    expect(ok).toMatchObject({ ok: true, claims: { sub: "t1", epoch: 3, node: "node-a" } });

    const forNodeB = await signLease(keys, clock, { taskId: "t1", nodeId: "node-b", epoch: 3, version: 1, task }, 60_000);
    expect(await check(forNodeB, clock.now())).toMatchObject({ ok: false, reason: expect.stringContaining("node-b") });

    const forged = await signLease(other, clock, { taskId: "t1", nodeId: "node-a", epoch: 3, version: 1, task }, 60_000);
    expect((await check(forged, clock.now())).ok).toBe(false);

    const [, payload] = lease.split(".");
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${payload}.`;
    expect((await check(unsigned, clock.now())).ok).toBe(false);

    expect((await check(lease, clock.now() + 61_000)).ok).toBe(false);
  });
});
