// Verifies leases against the control plane's pinned keys, and their payloads against the leases, before
// the agent acts on them.
import { createLocalJWKSet, decodeJwt, jwtVerify, type JWK } from "jose";
import { AUDIENCE, ISSUER, taskSpecSchema, type LeaseClaims, type TaskSpec } from "../api/agent-protocol";
import { payloadHash } from "../api/payload-hash";

export type LeaseVerdict = { ok: true; claims: LeaseClaims; task: TaskSpec } | { ok: false; reason: string };

/**
 * `task` is the payload that came with the token (a claim's grant, or the one held, for a renewal or after
 * a restart), as it arrived. `now` null checks the signature and claims as of the lease's issue time
 * (adopting after a restart).
 */
export type LeaseChecker = (token: string, task: unknown, now: number | null) => Promise<LeaseVerdict>;

/**
 * A lease is acted on only if its signature verifies with a pinned key (EdDSA only), it is a lease
 * (audience), it is unexpired, it names this node, and the payload beside it hashes to its `ph` claim.
 * Expiry here is the grant's; renewal is the control plane's business and reaches the agent in heartbeat
 * replies. A token from before payloads moved beside it (a `task` claim, no `ph`) is refused as malformed.
 */
export function createLeaseChecker(jwks: { keys: JWK[] }, nodeId: string): LeaseChecker {
  const keySet = createLocalJWKSet({ keys: jwks.keys });
  return async (token, task, now) => {
    let claims: LeaseClaims;
    try {
      const at = now ?? (decodeJwt(token).iat ?? 0) * 1000;
      const { payload } = await jwtVerify(token, keySet, { algorithms: ["EdDSA"], issuer: ISSUER, audience: AUDIENCE.lease, currentDate: new Date(at) });
      claims = payload as unknown as LeaseClaims;
    } catch (err) {
      return { ok: false, reason: `lease does not verify: ${(err as Error).message}` };
    }
    if (claims.node !== nodeId) return { ok: false, reason: `lease is for node ${String(claims.node)}, not this node` };
    if (typeof claims.epoch !== "number" || typeof claims.sub !== "string" || typeof claims.ph !== "string") {
      return { ok: false, reason: "lease claims are malformed" };
    }
    return checkPayload(claims, task);
  };
}

/**
 * The payload is the one the lease was signed for: its hash, over the payload as it arrived, is the token's
 * `ph`. Only then is its shape checked, so a payload this agent cannot run is refused, not half run.
 */
export async function checkPayload(claims: LeaseClaims, task: unknown): Promise<LeaseVerdict> {
  if (typeof task !== "object" || task === null) return { ok: false, reason: "lease came without its task payload" };
  if ((await payloadHash(task)) !== claims.ph) return { ok: false, reason: "task payload does not match the lease's payload hash" };
  if (!taskSpecSchema.safeParse(task).success) return { ok: false, reason: "task payload is not a task spec this agent can run" };
  // The payload as it arrived (not the parse, which drops members unknown here): kept, it hashes the same again.
  return { ok: true, claims, task: task as TaskSpec };
}
