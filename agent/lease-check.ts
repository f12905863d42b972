// Verifies leases against the control plane's pinned keys before the agent acts on them.
import { createLocalJWKSet, decodeJwt, jwtVerify, type JWK } from "jose";
import { AUDIENCE, ISSUER, type LeaseClaims } from "../api/agent-protocol";

export type LeaseVerdict = { ok: true; claims: LeaseClaims } | { ok: false; reason: string };

/** `now` null checks the signature and claims as of the lease's issue time (adopting after a restart). */
export type LeaseChecker = (token: string, now: number | null) => Promise<LeaseVerdict>;

/**
 * A lease is acted on only if its signature verifies with a pinned key (EdDSA only), it is a lease
 * (audience), it is unexpired, and it names this node. Expiry here is the grant's; renewal is the
 * control plane's business and reaches the agent in heartbeat replies.
 */
export function createLeaseChecker(jwks: { keys: JWK[] }, nodeId: string): LeaseChecker {
  const keySet = createLocalJWKSet({ keys: jwks.keys });
  return async (token, now) => {
    let claims: LeaseClaims;
    try {
      const at = now ?? (decodeJwt(token).iat ?? 0) * 1000;
      const { payload } = await jwtVerify(token, keySet, { algorithms: ["EdDSA"], issuer: ISSUER, audience: AUDIENCE.lease, currentDate: new Date(at) });
      claims = payload as unknown as LeaseClaims;
    } catch (err) {
      return { ok: false, reason: `lease does not verify: ${(err as Error).message}` };
    }
    if (claims.node !== nodeId) return { ok: false, reason: `lease is for node ${String(claims.node)}, not this node` };
    if (typeof claims.epoch !== "number" || typeof claims.sub !== "string" || typeof claims.task !== "object") {
      return { ok: false, reason: "lease claims are malformed" };
    }
    return { ok: true, claims };
  };
}
