// Lease tokens are signed once and reused while they have a third of their life left (and the payload
// they name is the same); a token this instance signed verifies, and one from another key does not.
import { decodeJwt, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { AUDIENCE, ISSUER } from "../../api/agent-protocol";
import { generateSigningKey, SIGNING_ALG } from "../../worker/auth/keys";
import { ManualClock } from "../../worker/clock";
import { LeaseTokens } from "../../worker/leases/lease-token";

const TTL = 3_600_000;
const lease = { taskId: "t-1", nodeId: "n-1", epoch: 3, version: 2, payloadHash: "ph-of-the-task-spec" };

describe("LeaseTokens", () => {
  it("signs the payload's hash, not the payload, and signs again when the payload changes", async () => {
    const { keys } = await generateSigningKey();
    const tokens = new LeaseTokens(keys, new ManualClock(Date.UTC(2026, 0, 1)));
    const first = await tokens.sign(lease, TTL);
    const claims = decodeJwt(first);
    expect(claims["ph"]).toBe("ph-of-the-task-spec");
    expect(Object.keys(claims).sort()).toEqual(["aud", "epoch", "exp", "iat", "iss", "node", "ph", "sub", "ver"]);
    expect(await tokens.sign(lease, TTL)).toBe(first);
    // Same task, epoch, node and version, another payload: the cached token would name the old one.
    const changed = await tokens.sign({ ...lease, payloadHash: "ph-of-a-changed-spec" }, TTL);
    expect(changed).not.toBe(first);
    expect(decodeJwt(changed)["ph"]).toBe("ph-of-a-changed-spec");
    expect(await tokens.verify(changed)).toMatchObject({ ok: true, claims: { ph: "ph-of-a-changed-spec" } });
  });

  it("refuses a token without a payload hash (one that carried its task spec inside)", async () => {
    const { keys } = await generateSigningKey();
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const old = await new SignJWT({ node: "n-1", epoch: 3, ver: 2, task: { image: "img" } })
      .setProtectedHeader({ alg: SIGNING_ALG, kid: keys.kid, typ: "lease+jwt" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE.lease)
      .setSubject("t-1")
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .setExpirationTime(Math.floor((clock.now() + TTL) / 1000))
      .sign(keys.privateKey);
    expect(await new LeaseTokens(keys, clock).verify(old)).toEqual({ ok: false, reason: "lease claims are malformed" });
  });

  it("refuses a lease signed with its key by a clock a day ahead, and accepts one within the leeway", async () => {
    const { keys } = await generateSigningKey();
    const start = Date.UTC(2026, 0, 1);
    const ahead = new LeaseTokens(keys, new ManualClock(start + 86_400_000));
    const near = new LeaseTokens(keys, new ManualClock(start + 30_000));
    const verifier = new LeaseTokens(keys, new ManualClock(start));
    expect(await verifier.verify(await ahead.sign(lease, TTL))).toEqual({ ok: false, reason: "lease was issued in the future" });
    expect(await verifier.verify(await near.sign(lease, TTL))).toMatchObject({ ok: true });
  });

  it("reuses a signed token until a third of its life is left, then signs a new one", async () => {
    const { keys } = await generateSigningKey();
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const tokens = new LeaseTokens(keys, clock);
    const first = await tokens.sign(lease, TTL);
    clock.advance(TTL / 2);
    expect(await tokens.sign(lease, TTL)).toBe(first);
    // Another epoch is another lease.
    const other = await tokens.sign({ ...lease, epoch: 4 }, TTL);
    expect(other).not.toBe(first);
    expect(decodeJwt(other)["epoch"]).toBe(4);
    clock.advance(TTL / 6 + 1_000);
    const renewed = await tokens.sign(lease, TTL);
    expect(renewed).not.toBe(first);
    expect(decodeJwt(renewed).exp).toBe(Math.floor((clock.now() + TTL) / 1000));
  });

  it("verifies its own tokens and refuses another key's, and an expired one", async () => {
    const { keys } = await generateSigningKey();
    const { keys: otherKeys } = await generateSigningKey();
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const tokens = new LeaseTokens(keys, clock);
    const foreign = await new LeaseTokens(otherKeys, clock).sign(lease, TTL);
    const own = await tokens.sign(lease, TTL);
    expect(await tokens.verify(own)).toMatchObject({ ok: true, claims: { sub: "t-1", node: "n-1", epoch: 3 } });
    // A second instance with the same key verifies it from the signature alone.
    expect(await new LeaseTokens(keys, clock).verify(own)).toMatchObject({ ok: true });
    expect(await tokens.verify(foreign)).toMatchObject({ ok: false });
    clock.advance(TTL + 1_000);
    expect(await tokens.verify(own)).toMatchObject({ ok: false, reason: "lease grant has expired" });
  });
});
