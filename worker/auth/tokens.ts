// Issuing and verifying JWTs: operator tokens and node credentials. Algorithms are pinned,
// issuer and audience checked, and "now" comes from the injected clock.
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import { AUDIENCE, ISSUER } from "../../api/agent-protocol";
import type { Clock } from "../clock";
import { unauthorized } from "../errors";
import { SIGNING_ALG, type SigningKeys } from "./keys";
import { PERMISSIONS, rolesSchema, type Permission, type RoleGrants } from "./roles";

export interface OperatorPrincipal {
  kind: "operator";
  subject: string;
  tokenId: string;
  roles: RoleGrants;
  /** Granted beyond the roles (see PERMISSIONS in roles.ts). */
  permissions: Permission[];
}

export interface NodePrincipal {
  kind: "node";
  nodeId: string;
  generation: number;
  expiresAt: number;
}

const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * How far in the future a token's "iat" may lie. Every token is signed by a control-plane instance with
 * its store-following clock (store-clock.ts), so a fresh token from another instance can be ahead of ours
 * by their clock difference, a few seconds under NTP; 60 s covers that with room, and the default lease
 * TTL (15 s) the store clock may run ahead. A token further ahead was signed by an instance whose clock
 * is wrong (or with a stolen key): its "exp" is as far off, so accepting it would extend its life by the
 * error. Beyond the leeway it is refused.
 */
export const ISSUED_AT_LEEWAY_MS = 60_000;

export async function signJwt(keys: SigningKeys, clock: Clock, claims: JWTPayload, audience: string, ttlMs: number): Promise<string> {
  const now = clock.now();
  return new SignJWT(claims)
    .setProtectedHeader({ alg: SIGNING_ALG, kid: keys.kid, typ: "JWT" })
    .setIssuer(ISSUER)
    .setAudience(audience)
    .setIssuedAt(seconds(now))
    .setExpirationTime(seconds(now + ttlMs))
    .sign(keys.privateKey);
}

/** Verifies a compact JWT for one audience; every failure is the same kind of 401 with a plain reason. */
export async function verifyJwt(keys: SigningKeys, clock: Clock, token: string, audience: string): Promise<JWTPayload> {
  try {
    const { payload } = await jwtVerify(token, keys.publicKey, {
      algorithms: [SIGNING_ALG],
      issuer: ISSUER,
      audience,
      currentDate: new Date(clock.now()),
      requiredClaims: ["exp", "iat", "sub"],
    });
    // jose checks "iat" only against a maximum age; one from the future is ours to refuse.
    if (typeof payload.iat !== "number" || payload.iat * 1000 > clock.now() + ISSUED_AT_LEEWAY_MS) throw new IssuedInFuture();
    return payload;
  } catch (cause) {
    throw unauthorized(describeJoseError(cause));
  }
}

class IssuedInFuture extends Error {
  override name = "IssuedInFuture";
}

function describeJoseError(cause: unknown): string {
  if (cause instanceof IssuedInFuture) return "token was issued in the future (its iat is past the clock leeway)";
  if (cause instanceof joseErrors.JWTExpired) return "token has expired";
  if (cause instanceof joseErrors.JWTClaimValidationFailed) return `token claim "${cause.claim}" is not acceptable`;
  if (cause instanceof joseErrors.JOSEAlgNotAllowed) return "token algorithm is not allowed";
  if (cause instanceof joseErrors.JWSSignatureVerificationFailed) return "token signature does not verify";
  if (cause instanceof joseErrors.JOSEError) return "token is malformed or not acceptable";
  return "token could not be verified";
}

export async function issueOperatorToken(
  keys: SigningKeys,
  clock: Clock,
  opts: { subject: string; tokenId: string; roles: RoleGrants; ttlMs: number; permissions?: Permission[] | undefined },
): Promise<string> {
  const perm = opts.permissions && opts.permissions.length > 0 ? { perm: opts.permissions } : {};
  return signJwt(keys, clock, { sub: opts.subject, jti: opts.tokenId, roles: opts.roles, ...perm }, AUDIENCE.operator, opts.ttlMs);
}

export async function verifyOperatorToken(keys: SigningKeys, clock: Clock, token: string): Promise<OperatorPrincipal> {
  const payload = await verifyJwt(keys, clock, token, AUDIENCE.operator);
  const roles = rolesSchema.safeParse(payload["roles"]);
  if (!roles.success || typeof payload.jti !== "string" || typeof payload.sub !== "string") {
    throw unauthorized("token carries no valid roles");
  }
  const perm = Array.isArray(payload["perm"]) ? payload["perm"].filter((p): p is Permission => (PERMISSIONS as readonly unknown[]).includes(p)) : [];
  return { kind: "operator", subject: payload.sub, tokenId: payload.jti, roles: roles.data, permissions: perm };
}

export async function issueNodeCredential(keys: SigningKeys, clock: Clock, nodeId: string, generation: number, ttlMs: number): Promise<string> {
  return signJwt(keys, clock, { sub: nodeId, gen: generation }, AUDIENCE.node, ttlMs);
}

export async function verifyNodeCredential(keys: SigningKeys, clock: Clock, token: string): Promise<NodePrincipal> {
  const payload = await verifyJwt(keys, clock, token, AUDIENCE.node);
  const gen = payload["gen"];
  if (typeof payload.sub !== "string" || typeof gen !== "number" || typeof payload.exp !== "number") {
    throw unauthorized("node credential is malformed");
  }
  return { kind: "node", nodeId: payload.sub, generation: gen, expiresAt: payload.exp * 1000 };
}

export function bearerToken(header: string | undefined): string {
  if (!header) throw unauthorized("missing Authorization: Bearer token");
  const match = /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim());
  if (!match?.[1]) throw unauthorized("Authorization header must be 'Bearer <token>'");
  return match[1];
}
