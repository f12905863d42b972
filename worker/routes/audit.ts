// GET /v1/audit: the audit trail, newest first, filtered and paged by an opaque cursor. Fleet admins read
// all of it; an admin of one namespace reads that namespace's rows by asking for it.
import { createRoute, z } from "@hono/zod-openapi";
import { AUDIT_ACTION_PATTERN, AUDIT_LIMIT_DEFAULT, AUDIT_LIMIT_MAX, AUDIT_TIME_RULE, auditEntrySchema, auditPageSchema, parseAuditTime } from "../../api/audit";
import { NAME_PATTERN, NAME_RULE } from "../../api/job-spec";
import { readAuditPage, type AuditPosition } from "../../db/queries/audit";
import { requireFleetRole, requireRole } from "../auth/middleware";
import type { App, ResolvedDeps } from "../context";
import { badRequest } from "../errors";
import { bearer, errorResponses, json } from "./schemas";

// Named components built here from the contract's shapes: calling .openapi() on an api/ schema would need
// @hono/zod-openapi to have patched zod before the contract loaded (see test/api/module-order.test.ts).
const entry = z.object(auditEntrySchema.shape).openapi("AuditEntry");
const page = z.object({ ...auditPageSchema.shape, entries: z.array(entry).describe("Newest first, by time and then by id") }).openapi("AuditPage");

/** The cursor is base64url of "at.id": opaque to clients, so its form may change. */
function encodeCursor(p: AuditPosition): string {
  return btoa(`${p.at}.${p.id}`).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeCursor(text: string): AuditPosition | null {
  let plain: string;
  try {
    plain = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return null;
  }
  const m = /^(-?\d{1,16})\.(\d{1,16})$/.exec(plain);
  return m ? { at: Number(m[1]), id: Number(m[2]) } : null;
}

const timeBound = (what: string) =>
  z
    .string()
    .refine((text) => parseAuditTime(text, 0) !== null, AUDIT_TIME_RULE)
    .optional()
    .describe(`${what}: an RFC 3339 time, or a duration meaning that long ago (5m, 1h)`);

const query = z.object({
  namespace: z.string().regex(NAME_PATTERN, NAME_RULE).optional().describe("Only this namespace's rows (fleet-wide rows have none)"),
  actor: z.string().min(1).max(256).optional().describe("Only rows by this actor (a token subject, or node:NAME)"),
  action: z.string().max(128).regex(AUDIT_ACTION_PATTERN, 'must be an action such as secret.put, or a prefix ending in "." such as secret.').optional().describe('One action, or a prefix ending in "." (secret. matches secret.put, secret.read, …)'),
  since: timeBound("Rows at or after this time"),
  until: timeBound("Rows before this time"),
  limit: z.coerce.number().int().min(1).max(AUDIT_LIMIT_MAX).default(AUDIT_LIMIT_DEFAULT).describe(`At most this many rows (default ${AUDIT_LIMIT_DEFAULT}, at most ${AUDIT_LIMIT_MAX})`),
  cursor: z
    .string()
    .max(64)
    .refine((text) => decodeCursor(text) !== null, "is not a cursor this control plane gave out")
    .optional()
    .describe("The next of the previous page"),
});

export function registerAuditRoutes(app: App, deps: ResolvedDeps): void {
  const { store, clock } = deps;

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/audit",
      summary: "The audit trail: every operator write, newest first (admins; a namespace's admins with namespace=)",
      description:
        "Paged by position, not offset: pass `next` back as `cursor` with the same filters, and rows written meanwhile neither repeat nor push rows out. " +
        "A duration in since or until counts back from the control plane's clock when the page is asked for; the answer gives the bounds it used.",
      security: bearer,
      request: { query },
      responses: { 200: json(page, "A page of the audit trail"), ...errorResponses },
    }),
    async (c) => {
      const q = c.req.valid("query");
      if (q.namespace === undefined) requireFleetRole(c, "admin");
      else requireRole(c, q.namespace, "admin");
      const now = clock.now();
      // Both parse: the query schema checked them.
      const since = q.since === undefined ? null : parseAuditTime(q.since, now)!;
      const until = q.until === undefined ? null : parseAuditTime(q.until, now)!;
      if (since !== null && until !== null && since >= until) throw badRequest("until: must be later than since", [{ path: "query.until", message: "must be later than since" }]);
      const filter = { namespace: q.namespace, actor: q.actor, action: q.action, since: since ?? undefined, until: until ?? undefined };
      const { entries, more } = await readAuditPage(store.db, filter, q.cursor === undefined ? null : decodeCursor(q.cursor), q.limit);
      const last = entries[entries.length - 1];
      return c.json({ entries, next: more && last ? encodeCursor(last) : null, since, until }, 200);
    },
  );
}
