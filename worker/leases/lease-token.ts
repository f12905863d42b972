// Signing and verifying lease grants (JWS, EdDSA). A lease names task, node and epoch; the store decides
// whether that epoch is still current (fencing). Invariant: a task has at most one unexpired lease,
// because a task row has one epoch and one expiry and the epoch only rises.
import { jwtVerify, SignJWT } from "jose";
import { AUDIENCE, ISSUER, type LeaseClaims, type TaskSpec } from "../../api/agent-protocol";
import { SIGNING_ALG, type SigningKeys } from "../auth/keys";
import type { Clock } from "../clock";

export async function signLease(
  keys: SigningKeys,
  clock: Clock,
  lease: { taskId: string; nodeId: string; epoch: number; version: number; task: TaskSpec },
  ttlMs: number,
): Promise<string> {
  const now = clock.now();
  return new SignJWT({ node: lease.nodeId, epoch: lease.epoch, ver: lease.version, task: lease.task })
    .setProtectedHeader({ alg: SIGNING_ALG, kid: keys.kid, typ: "lease+jwt" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE.lease)
    .setSubject(lease.taskId)
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor((now + ttlMs) / 1000))
    .sign(keys.privateKey);
}

export type LeaseCheck = { ok: true; claims: LeaseClaims } | { ok: false; reason: string };

const CACHE_LIMIT = 100_000;

/**
 * Verifies lease signatures, remembering tokens it has verified: a heartbeat presents the same tokens
 * every few seconds and an Ed25519 check per lease would dominate its cost. The cache only holds
 * results of a pure function of the token, so instances need not share it; expiry is still checked
 * against the clock on every use.
 */
export class LeaseVerifier {
  private readonly verified = new Map<string, LeaseClaims>();

  constructor(
    private readonly keys: SigningKeys,
    private readonly clock: Clock,
  ) {}

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
      if (typeof claims.node !== "string" || typeof claims.epoch !== "number" || typeof claims.ver !== "number") {
        return { ok: false, reason: "lease claims are malformed" };
      }
      if (this.verified.size >= CACHE_LIMIT) this.verified.clear();
      this.verified.set(token, claims);
      return { ok: true, claims };
    } catch {
      return { ok: false, reason: "lease signature or claims do not verify" };
    }
  }
}
