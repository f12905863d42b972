// Signing and verifying lease grants (JWS, EdDSA). A lease names task, node, epoch and job version, and
// the hash of its payload (the task spec, which travels beside it); the store decides whether that epoch
// is still current (fencing). Invariant: a task has at most one unexpired lease, because a task row has
// one epoch and one expiry and the epoch only rises.
import { decodeJwt, jwtVerify, SignJWT } from "jose";
import { AUDIENCE, ISSUER, type LeaseClaims } from "../../api/agent-protocol";
import { SIGNING_ALG, type SigningKeys } from "../auth/keys";
import { ISSUED_AT_LEEWAY_MS } from "../auth/tokens";
import type { Clock } from "../clock";

export async function signLease(
  keys: SigningKeys,
  clock: Clock,
  /** `payloadHash`: payloadHash (api/payload-hash.ts) of the task spec sent beside the token. */
  lease: { taskId: string; nodeId: string; epoch: number; version: number; payloadHash: string },
  ttlMs: number,
): Promise<string> {
  const now = clock.now();
  return new SignJWT({ node: lease.nodeId, epoch: lease.epoch, ver: lease.version, ph: lease.payloadHash })
    .setProtectedHeader({ alg: SIGNING_ALG, kid: keys.kid, typ: "lease+jwt" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE.lease)
    .setSubject(lease.taskId)
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor((now + ttlMs) / 1000))
    .sign(keys.privateKey);
}

export type LeaseCheck = { ok: true; claims: LeaseClaims } | { ok: false; reason: string };

/** Tokens remembered per instance, each way; the oldest are forgotten first. */
const CACHE_LIMIT = 200_000;

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= CACHE_LIMIT) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

/**
 * Signs and verifies lease tokens, remembering both: a heartbeat presents the same tokens every few
 * seconds, and a claim returns every lease the node holds, so an Ed25519 operation per lease per request
 * would dominate their cost. Both caches hold results of pure functions (of the token; of the task, epoch,
 * node, job version and payload hash), so instances need not share them; expiry is still checked on every use.
 */
export class LeaseTokens {
  private readonly verified = new Map<string, LeaseClaims>();
  private readonly signed = new Map<string, { token: string; exp: number }>();

  constructor(
    private readonly keys: SigningKeys,
    private readonly clock: Clock,
  ) {}

  /**
   * A token for this lease: the one signed before while it has more than a third of its life left (a
   * heartbeat re-signs it after that), else a new one. A token this instance signs needs no verifying.
   * The payload hash is part of the key: a changed payload gets a token of its own.
   */
  async sign(lease: Parameters<typeof signLease>[2], ttlMs: number): Promise<string> {
    const key = `${lease.taskId}:${lease.epoch}:${lease.nodeId}:${lease.version}:${lease.payloadHash}`;
    const hit = this.signed.get(key);
    if (hit && hit.exp * 1000 - this.clock.now() > ttlMs / 3) return hit.token;
    const token = await signLease(this.keys, this.clock, lease, ttlMs);
    const claims = decodeJwt(token) as unknown as LeaseClaims;
    remember(this.signed, key, { token, exp: claims.exp });
    remember(this.verified, token, claims);
    return token;
  }

  async verify(token: string): Promise<LeaseCheck> {
    const nowSec = this.clock.now() / 1000;
    const hit = this.verified.get(token);
    if (hit) return hit.exp > nowSec ? { ok: true, claims: hit } : { ok: false, reason: "lease grant has expired" };
    try {
      const { payload } = await jwtVerify(token, this.keys.publicKey, {
        algorithms: [SIGNING_ALG],
        issuer: ISSUER,
        audience: AUDIENCE.lease,
        currentDate: new Date(this.clock.now()),
        requiredClaims: ["sub", "exp", "iat"],
      });
      const claims = payload as unknown as LeaseClaims;
      // A token without `ph` (one that carried its task spec inside, before payloads moved beside it) is malformed.
      if (typeof claims.node !== "string" || typeof claims.epoch !== "number" || typeof claims.ver !== "number" || typeof claims.ph !== "string") {
        return { ok: false, reason: "lease claims are malformed" };
      }
      // As for every token we verify: one issued ahead of our clock by more than the leeway is refused.
      if (typeof payload.iat !== "number" || payload.iat * 1000 > this.clock.now() + ISSUED_AT_LEEWAY_MS) return { ok: false, reason: "lease was issued in the future" };
      remember(this.verified, token, claims);
      return { ok: true, claims };
    } catch {
      return { ok: false, reason: "lease signature or claims do not verify" };
    }
  }
}
