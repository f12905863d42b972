// The agent acts only on leases signed by its pinned key, for its own node, unexpired, and with the payload
// whose hash the lease carries.
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { AUDIENCE, ISSUER, type TaskSpec } from "../api/agent-protocol";
import { canonicalJson, payloadHash } from "../api/payload-hash";
import { generateSigningKey, jwks } from "../worker/auth/keys";
import { ManualClock } from "../worker/clock";
import { signLease } from "../worker/leases/lease-token";
import { createLeaseChecker } from "./lease-check";

const task = { jobId: "default/web", namespace: "default", job: "web", slot: 0, version: 1, type: "service", image: "img", env: {}, resources: { cpu: 100, memory: 64 }, ports: [], restart: { mode: "always", attempts: 3, intervalMs: 60_000, delayMs: 1_000 }, disconnect: { policy: "keep", afterMs: 60_000 }, stopGraceMs: 1_000 } satisfies TaskSpec;

describe("lease checks on the agent", () => {
  it("accepts its own lease, refuses another node's, a forged one, an unsigned one and an expired one", async () => {
    const clock = new ManualClock();
    const { keys } = await generateSigningKey();
    const { keys: other } = await generateSigningKey();
    const check = createLeaseChecker(jwks(keys), "node-a");
    const ph = await payloadHash(task);
    const lease = await signLease(keys, clock, { taskId: "t1", nodeId: "node-a", epoch: 3, version: 1, payloadHash: ph }, 60_000);

    const ok = await check(lease, task, clock.now());
    expect(ok).toMatchObject({ ok: true, claims: { sub: "t1", epoch: 3, node: "node-a", ph }, task });

    const forNodeB = await signLease(keys, clock, { taskId: "t1", nodeId: "node-b", epoch: 3, version: 1, payloadHash: ph }, 60_000);
    expect(await check(forNodeB, task, clock.now())).toMatchObject({ ok: false, reason: expect.stringContaining("node-b") });

    const forged = await signLease(other, clock, { taskId: "t1", nodeId: "node-a", epoch: 3, version: 1, payloadHash: ph }, 60_000);
    expect((await check(forged, task, clock.now())).ok).toBe(false);

    const [, payload] = lease.split(".");
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${payload}.`;
    expect((await check(unsigned, task, clock.now())).ok).toBe(false);

    expect((await check(lease, task, clock.now() + 61_000)).ok).toBe(false);
  });

  it("accepts a payload that hashes to the lease's ph, however its keys are ordered, and refuses one that does not", async () => {
    const clock = new ManualClock();
    const { keys } = await generateSigningKey();
    const check = createLeaseChecker(jwks(keys), "node-a");
    const lease = await signLease(keys, clock, { taskId: "t1", nodeId: "node-a", epoch: 3, version: 1, payloadHash: await payloadHash(task) }, 60_000);

    // As it arrives over the wire: parsed JSON, its keys in another order.
    const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(task).reverse()))) as unknown;
    expect(canonicalJson(reordered)).toBe(canonicalJson(task));
    expect(await check(lease, reordered, clock.now())).toMatchObject({ ok: true, task: reordered });

    const swapped = { ...task, image: "attacker/img" };
    expect(await check(lease, swapped, clock.now())).toEqual({ ok: false, reason: "task payload does not match the lease's payload hash" });
    const moreEnv = { ...task, env: { EXTRA: "1" } };
    expect((await check(lease, moreEnv, clock.now())).ok).toBe(false);
    expect(await check(lease, undefined, clock.now())).toEqual({ ok: false, reason: "lease came without its task payload" });
  });

  it("refuses a payload that matches its hash but is not a task spec it can run", async () => {
    const clock = new ManualClock();
    const { keys } = await generateSigningKey();
    const check = createLeaseChecker(jwks(keys), "node-a");
    const notATask = { image: "img" };
    const lease = await signLease(keys, clock, { taskId: "t1", nodeId: "node-a", epoch: 3, version: 1, payloadHash: await payloadHash(notATask) }, 60_000);
    expect(await check(lease, notATask, clock.now())).toEqual({ ok: false, reason: "task payload is not a task spec this agent can run" });
  });

  it("refuses a lease of the older shape, with its task spec inside and no payload hash", async () => {
    const clock = new ManualClock();
    const { keys } = await generateSigningKey();
    const check = createLeaseChecker(jwks(keys), "node-a");
    const old = await new SignJWT({ node: "node-a", epoch: 3, ver: 1, task })
      .setProtectedHeader({ alg: "EdDSA", kid: keys.kid, typ: "lease+jwt" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE.lease)
      .setSubject("t1")
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .setExpirationTime(Math.floor(clock.now() / 1000) + 60)
      .sign(keys.privateKey);
    expect(await check(old, task, clock.now())).toEqual({ ok: false, reason: "lease claims are malformed" });
  });
});
