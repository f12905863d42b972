// Namespace routes: list, create, get, delete (empty ones only).
import { createRoute, z } from "@hono/zod-openapi";
import { asc, eq } from "drizzle-orm";
import { nameSchema } from "../../api/job-spec";
import { isConstraintError, writeBatch } from "../../db/batch";
import { namespaces } from "../../db/schema";
import { auditRow, CHANGED } from "../audit";
import { requireFleetRole, requireRole } from "../auth/middleware";
import { allows } from "../auth/roles";
import type { App, ResolvedDeps } from "../context";
import { conflict, notFound } from "../errors";
import { bearer, errorResponses, json, namespaceParam } from "./schemas";

const namespaceSchema = z.object({ name: z.string(), description: z.string(), createdAt: z.number() }).openapi("Namespace");

export function registerNamespaceRoutes(app: App, deps: ResolvedDeps): void {
  const { store, clock } = deps;
  const { db } = store;

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces",
      summary: "List the namespaces the token can see",
      security: bearer,
      responses: { 200: json(z.object({ namespaces: z.array(namespaceSchema) }), "Namespaces"), ...errorResponses },
    }),
    async (c) => {
      const roles = c.get("operator").roles;
      const rows = await db.select().from(namespaces).orderBy(asc(namespaces.name));
      return c.json({ namespaces: rows.filter((n) => allows(roles, n.name, "viewer")) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces",
      summary: "Create a namespace",
      security: bearer,
      request: { body: { required: true, content: { "application/json": { schema: z.strictObject({ name: nameSchema, description: z.string().max(1024).default("") }) } } } },
      responses: { 201: json(namespaceSchema, "Created"), ...errorResponses },
    }),
    async (c) => {
      requireFleetRole(c, "admin");
      const body = c.req.valid("json");
      const now = clock.now();
      const row = { name: body.name, description: body.description, createdAt: now };
      try {
        await writeBatch(store.client, [
          db.insert(namespaces).values(row),
          auditRow(now, { actor: c.get("operator").subject, action: "namespace.create", namespace: body.name, target: body.name }),
        ]);
      } catch (err) {
        if (isConstraintError(err)) throw conflict(`namespace "${body.name}" already exists`);
        throw err;
      }
      return c.json(row, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{namespace}",
      summary: "Get a namespace",
      security: bearer,
      request: { params: namespaceParam },
      responses: { 200: json(namespaceSchema, "The namespace"), ...errorResponses },
    }),
    async (c) => {
      const { namespace } = c.req.valid("param");
      requireRole(c, namespace, "viewer");
      const [row] = await db.select().from(namespaces).where(eq(namespaces.name, namespace)).limit(1);
      if (!row) throw notFound(`namespace "${namespace}" does not exist`);
      return c.json(row, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/namespaces/{namespace}",
      summary: "Delete a namespace that holds no jobs",
      security: bearer,
      request: { params: namespaceParam },
      responses: { 200: json(z.object({ deleted: z.string() }), "Deleted"), ...errorResponses },
    }),
    async (c) => {
      const { namespace } = c.req.valid("param");
      requireFleetRole(c, "admin");
      if (namespace === "default") throw conflict('the "default" namespace cannot be deleted');
      const now = clock.now();
      const [result] = await writeBatch(store.client, [
        { sql: "DELETE FROM namespaces WHERE name = ? AND NOT EXISTS (SELECT 1 FROM jobs WHERE namespace = ?)", args: [namespace, namespace] },
        auditRow(now, { actor: c.get("operator").subject, action: "namespace.delete", namespace, target: namespace }, CHANGED),
      ]);
      if (result?.rowsAffected !== 1) {
        const [exists] = await db.select().from(namespaces).where(eq(namespaces.name, namespace)).limit(1);
        throw exists ? conflict(`namespace "${namespace}" still has jobs`) : notFound(`namespace "${namespace}" does not exist`);
      }
      return c.json({ deleted: namespace }, 200);
    },
  );
}
