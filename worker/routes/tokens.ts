// Operator token routes (issue, list, revoke) and join tokens for agents.
import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, isNull } from "drizzle-orm";
import { duration } from "../../api/duration";
import { writeBatch } from "../../db/batch";
import { apiTokens, joinTokens } from "../../db/schema";
import { auditRow, CHANGED } from "../audit";
import { requireFleetRole } from "../auth/middleware";
import { canDelegate, PERMISSIONS, rolesSchema } from "../auth/roles";
import { newOperatorToken } from "../auth/operator-tokens";
import type { App, ResolvedDeps } from "../context";
import { badRequest, forbidden, notFound } from "../errors";
import { randomSecret, sha256Hex } from "../hash";
import { bearer, errorResponses, idParam, json } from "./schemas";

const tokenInfo = z
  .object({ id: z.string(), subject: z.string(), roles: z.record(z.string(), z.string()), permissions: z.array(z.string()).nullable().optional(), expiresAt: z.number(), revokedAt: z.number().nullable(), createdBy: z.string(), createdAt: z.number() })
  .openapi("TokenInfo");

const joinTokenInfo = z
  .object({
    id: z.string(),
    description: z.string(),
    region: z.string().nullable(),
    maxUses: z.number().nullable(),
    uses: z.number(),
    expiresAt: z.number().nullable(),
    revokedAt: z.number().nullable(),
    createdAt: z.number(),
  })
  .openapi("JoinTokenInfo");

/** Join tokens are "lhj_<id>.<secret>"; only the SHA-256 of the whole string is stored. */
export const JOIN_TOKEN_PREFIX = "lhj_";

export function registerTokenRoutes(app: App, deps: ResolvedDeps): void {
  const { store, clock, keys, config } = deps;
  const { db } = store;

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tokens",
      summary: "Issue an operator token; a caller can only grant what it holds as admin",
      security: bearer,
      request: {
        body: {
          required: true,
          content: { "application/json": { schema: z.strictObject({
                subject: z.string().min(1).max(128),
                roles: rolesSchema,
                permissions: z.array(z.enum(PERMISSIONS)).max(PERMISSIONS.length).optional().describe("Beyond the roles: secret-values lets the token read secret values"),
                ttl: duration({ min: 60_000, max: 365 * 24 * 3_600_000 }).optional(),
              }),
            },
          },
        },
      },
      responses: { 201: json(z.object({ token: z.string(), info: tokenInfo }), "The token; it is shown only once"), ...errorResponses },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const caller = c.get("operator");
      if (Object.keys(body.roles).length === 0) throw badRequest("a token must grant at least one role", [{ path: "roles", message: "must not be empty" }]);
      if (!canDelegate(caller.roles, body.roles)) throw forbidden("a token can only grant roles its issuer holds as admin");
      const permissions = [...new Set(body.permissions ?? [])];
      const { token, row } = await newOperatorToken(keys, clock, { subject: body.subject, roles: body.roles, permissions, ttlMs: body.ttl ?? config.tokenTtl, createdBy: caller.subject });
      await writeBatch(store.client, [
        db.insert(apiTokens).values(row),
        auditRow(row.createdAt, { actor: caller.subject, action: "token.issue", target: row.id, detail: { subject: body.subject, roles: body.roles, ...(permissions.length > 0 ? { permissions } : {}) } }),
      ]);
      return c.json({ token, info: row }, 201);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/v1/tokens", summary: "List operator tokens", security: bearer, responses: { 200: json(z.object({ tokens: z.array(tokenInfo) }), "Tokens"), ...errorResponses } }),
    async (c) => {
      requireFleetRole(c, "admin");
      const rows = await db.select().from(apiTokens).orderBy(desc(apiTokens.createdAt));
      return c.json({ tokens: rows }, 200);
    },
  );

  app.openapi(
    createRoute({ method: "delete", path: "/v1/tokens/{id}", summary: "Revoke an operator token", security: bearer, request: { params: idParam }, responses: { 200: json(z.object({ revoked: z.string() }), "Revoked"), ...errorResponses } }),
    async (c) => {
      requireFleetRole(c, "admin");
      const { id } = c.req.valid("param");
      const now = clock.now();
      const [result] = await writeBatch(store.client, [
        db.update(apiTokens).set({ revokedAt: now }).where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt))),
        auditRow(now, { actor: c.get("operator").subject, action: "token.revoke", target: id }, CHANGED),
      ]);
      if (result?.rowsAffected !== 1) throw notFound(`no active token ${id}`);
      return c.json({ revoked: id }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/join-tokens",
      summary: "Create a join token for enrolling agents",
      security: bearer,
      request: {
        body: {
          required: true,
          content: {
            "application/json": {
              schema: z.strictObject({
                description: z.string().max(256).default(""),
                region: z.string().regex(/^[a-z0-9-]{1,32}$/).optional(),
                maxUses: z.int().min(1).max(1_000_000).optional(),
                ttl: duration({ min: 60_000, max: 365 * 24 * 3_600_000 }).optional(),
              }),
            },
          },
        },
      },
      responses: { 201: json(z.object({ token: z.string(), info: joinTokenInfo }), "The join token; it is shown only once"), ...errorResponses },
    }),
    async (c) => {
      requireFleetRole(c, "admin");
      const body = c.req.valid("json");
      const now = clock.now();
      const id = deps.newId().slice(0, 8);
      const token = `${JOIN_TOKEN_PREFIX}${id}.${randomSecret()}`;
      const row = {
        id,
        hash: await sha256Hex(token),
        description: body.description,
        region: body.region ?? null,
        maxUses: body.maxUses ?? null,
        uses: 0,
        expiresAt: body.ttl === undefined ? null : now + body.ttl,
        revokedAt: null,
        createdBy: c.get("operator").subject,
        createdAt: now,
      };
      await writeBatch(store.client, [
        db.insert(joinTokens).values(row),
        auditRow(now, { actor: row.createdBy, action: "join-token.create", target: id, detail: { region: row.region, maxUses: row.maxUses, expiresAt: row.expiresAt } }),
      ]);
      const { hash: _hash, createdBy: _by, ...info } = row;
      return c.json({ token, info }, 201);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: "/v1/join-tokens", summary: "List join tokens (never their secrets)", security: bearer, responses: { 200: json(z.object({ joinTokens: z.array(joinTokenInfo) }), "Join tokens"), ...errorResponses } }),
    async (c) => {
      requireFleetRole(c, "admin");
      const rows = await db.select().from(joinTokens).orderBy(desc(joinTokens.createdAt));
      return c.json({ joinTokens: rows.map(({ hash: _hash, createdBy: _by, ...info }) => info) }, 200);
    },
  );

  app.openapi(
    createRoute({ method: "delete", path: "/v1/join-tokens/{id}", summary: "Revoke a join token", security: bearer, request: { params: idParam }, responses: { 200: json(z.object({ revoked: z.string() }), "Revoked"), ...errorResponses } }),
    async (c) => {
      requireFleetRole(c, "admin");
      const { id } = c.req.valid("param");
      const now = clock.now();
      const [result] = await writeBatch(store.client, [
        db.update(joinTokens).set({ revokedAt: now }).where(and(eq(joinTokens.id, id), isNull(joinTokens.revokedAt))),
        auditRow(now, { actor: c.get("operator").subject, action: "join-token.revoke", target: id }, CHANGED),
      ]);
      if (result?.rowsAffected !== 1) throw notFound(`no active join token ${id}`);
      return c.json({ revoked: id }, 200);
    },
  );
}
