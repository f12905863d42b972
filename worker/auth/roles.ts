// Operator roles per namespace: viewer < operator < admin; "*" grants a role on every namespace.
import { z } from "zod";

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];
export const ALL_NAMESPACES = "*";

/**
 * Permissions a token holds beyond its roles. secret-values: read secret values through the API, on the
 * namespaces where the token has a role. Admins read them without it; operators and viewers only with it.
 */
export const PERMISSIONS = ["secret-values"] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const rolesSchema = z.record(
  z.string().regex(/^(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$/, 'a namespace name or "*"'),
  z.enum(ROLES),
);
export type RoleGrants = Record<string, Role>;

const rank = (role: Role | undefined) => (role === undefined ? -1 : ROLES.indexOf(role));

/** The strongest role the grants give on a namespace. */
export function roleOn(grants: RoleGrants, namespace: string): Role | undefined {
  const direct = grants[namespace];
  const wildcard = grants[ALL_NAMESPACES];
  return rank(direct) >= rank(wildcard) ? direct : wildcard;
}

export function allows(grants: RoleGrants, namespace: string, needed: Role): boolean {
  return rank(roleOn(grants, namespace)) >= rank(needed);
}

/** Whether `granter` may hand out every grant in `requested` (never more than it holds). */
export function canDelegate(granter: RoleGrants, requested: RoleGrants): boolean {
  return Object.entries(requested).every(([ns, role]) =>
    ns === ALL_NAMESPACES ? rank(granter[ALL_NAMESPACES]) >= rank(role) && rank(granter[ALL_NAMESPACES]) === rank("admin") : allows(granter, ns, "admin") && allows(granter, ns, role),
  );
}
