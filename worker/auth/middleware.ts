// Authentication middleware for operators and nodes, and the RBAC check every operator route makes.
import { eq } from "drizzle-orm";
import type { Context, MiddlewareHandler } from "hono";
import { apiTokens } from "../../db/schema";
import type { AppEnv, ResolvedDeps } from "../context";
import { forbidden, unauthorized } from "../errors";
import { allows, type Role } from "./roles";
import { bearerToken, verifyNodeCredential, verifyOperatorToken, type NodePrincipal } from "./tokens";

export function operatorAuth(deps: ResolvedDeps): MiddlewareHandler<AppEnv> {
  return async function operatorAuth(c, next) {
    const principal = await verifyOperatorToken(deps.keys, deps.clock, bearerToken(c.req.header("authorization")));
    // Tokens are recorded when issued, so a revoked (or never issued) token id is refused.
    const [row] = await deps.store.db
      .select({ revokedAt: apiTokens.revokedAt })
      .from(apiTokens)
      .where(eq(apiTokens.id, principal.tokenId))
      .limit(1);
    if (!row) throw unauthorized("token is not known to this control plane");
    if (row.revokedAt !== null) throw unauthorized("token has been revoked");
    c.set("operator", principal);
    await next();
  };
}

const CREDENTIAL_CACHE_LIMIT = 50_000;

/**
 * Node credentials are presented on every heartbeat and claim; a verified one is remembered (a pure
 * function of the token, so instances need not share the cache) and its expiry checked on every use.
 * Revocation does not depend on this: every agent write is also guarded on the credential generation.
 */
export function nodeAuth(deps: ResolvedDeps): MiddlewareHandler<AppEnv> {
  const verified = new Map<string, NodePrincipal>();
  return async function nodeAuth(c, next) {
    const token = bearerToken(c.req.header("authorization"));
    let principal = verified.get(token);
    if (principal && principal.expiresAt <= deps.clock.now()) {
      verified.delete(token);
      principal = undefined;
    }
    if (!principal) {
      principal = await verifyNodeCredential(deps.keys, deps.clock, token);
      if (verified.size >= CREDENTIAL_CACHE_LIMIT) verified.clear();
      verified.set(token, principal);
    }
    c.set("node", principal);
    await next();
  };
}

/** Throws 403 unless the caller's token grants `role` on `namespace`. */
export function requireRole(c: Context<AppEnv>, namespace: string, role: Role): void {
  const operator = c.get("operator");
  if (!allows(operator.roles, namespace, role)) {
    throw forbidden(`token has no ${role} role on namespace "${namespace}"`);
  }
}

/** Throws 403 unless the caller's token grants `role` on at least one namespace (checked before a body is parsed). */
export function requireRoleSomewhere(c: Context<AppEnv>, role: Role): void {
  const grants = c.get("operator").roles;
  if (!Object.keys(grants).some((namespace) => allows(grants, namespace, role))) {
    throw forbidden(`token has no ${role} role on any namespace`);
  }
}

/** Throws 403 unless the caller's token is a fleet-wide (namespace "*") holder of `role`. */
export function requireFleetRole(c: Context<AppEnv>, role: Role): void {
  const operator = c.get("operator");
  if (!allows(operator.roles, "*", role) || (operator.roles["*"] === undefined)) {
    throw forbidden(`this needs a fleet-wide ${role} role (namespace "*")`);
  }
}
