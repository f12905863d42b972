// The service catalog: list a namespace's services, and read one, healthy endpoints by default, with a
// blocking query (?index=&wait=) that answers when the set changes, as Consul's and Nomad's do. It polls
// the store while it waits, so it needs nothing another instance lacks.
import { createRoute, z } from "@hono/zod-openapi";
import { parseDuration } from "../../api/duration";
import { endpointSchema } from "../../api/services";
import { requireRole } from "../auth/middleware";
import type { App, ResolvedDeps } from "../context";
import { badRequest, notFound } from "../errors";
import { healthyOnly, readServices } from "../services/catalog";
import { bearer, errorResponses, json } from "./schemas";
import { NAME_PATTERN, NAME_RULE } from "../../api/job-spec";

const MAX_WAIT_MS = 5 * 60_000;
const DEFAULT_WAIT_MS = 30_000;
const POLL_MS = 250;

const name = () => z.string().regex(NAME_PATTERN, NAME_RULE);
const snapshot = z
  .object({
    namespace: z.string(),
    name: z.string(),
    index: z.number().describe("Names this endpoint set; pass it back as ?index= to wait for a change (opaque: it does not only rise)"),
    endpoints: z.array(endpointSchema),
    callers: z.array(z.string()).describe("The nodes that may open its endpoints through their mesh: those running a task that declares it as an upstream, and those serving an ingress of it"),
  })
  .openapi("Service");
const summary = z
  .object({ namespace: z.string(), name: z.string(), index: z.number(), healthy: z.number(), endpoints: z.number(), tags: z.array(z.string()), jobs: z.array(z.string()) })
  .openapi("ServiceSummary");

export function registerServiceRoutes(app: App, deps: ResolvedDeps): void {
  const { store, clock } = deps;

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/services",
      summary: "A namespace's services, with their endpoint counts",
      security: bearer,
      request: { query: z.object({ namespace: name().default("default") }) },
      responses: { 200: json(z.object({ services: z.array(summary) }), "Services"), ...errorResponses },
    }),
    async (c) => {
      const { namespace } = c.req.valid("query");
      requireRole(c, namespace, "viewer");
      const services = await readServices(store.client, clock.now(), { namespaces: [namespace] });
      return c.json(
        {
          services: services.map((s) => ({
            namespace: s.namespace,
            name: s.name,
            index: s.index,
            healthy: s.endpoints.filter((e) => e.healthy).length,
            endpoints: s.endpoints.length,
            tags: [...new Set(s.endpoints.flatMap((e) => e.tags))].sort(),
            jobs: [...new Set(s.endpoints.map((e) => e.jobId))].sort(),
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/services/{name}",
      summary: "A service's endpoints (healthy ones unless all=1); with index and wait, a blocking query that answers once the set is not the one named by index",
      security: bearer,
      request: {
        params: z.object({ name: name().openapi({ param: { name: "name", in: "path" } }) }),
        query: z.object({
          namespace: name().default("default"),
          all: z.enum(["0", "1", "true", "false"]).optional().describe("1: unhealthy endpoints too, each with its healthy flag"),
          index: z.coerce.number().int().min(0).optional().describe("The index of the set the caller holds: wait until the set differs"),
          wait: z.string().optional().describe("How long a blocking query may wait (default 30s, at most 5m)"),
        }),
      },
      responses: { 200: json(snapshot, "The service"), ...errorResponses },
    }),
    async (c) => {
      const { name: service } = c.req.valid("param");
      const q = c.req.valid("query");
      requireRole(c, q.namespace, "viewer");
      const all = q.all === "1" || q.all === "true";
      let waitMs = DEFAULT_WAIT_MS;
      if (q.wait !== undefined) {
        const parsed = parseDuration(q.wait);
        if (parsed === null || parsed > MAX_WAIT_MS) throw badRequest(`wait: must be a duration of at most 5m, such as 30s`, [{ path: "query.wait", message: "must be a duration of at most 5m" }]);
        waitMs = parsed;
      }
      const key = `${q.namespace}/${service}`;
      const read = async () => {
        // Declared by a running job's current version, with endpoints or none yet.
        const [found] = await readServices(store.client, clock.now(), { keys: [key], declaredOnly: true });
        if (!found) return null;
        return all ? found : healthyOnly(found);
      };
      let current = await read();
      if (current === null) throw notFound(`there is no service "${service}" in namespace ${q.namespace}`);
      if (q.index !== undefined) {
        const deadline = Date.now() + waitMs;
        const abort = c.req.raw.signal;
        while (current !== null && current.index === q.index && Date.now() < deadline && !abort.aborted) {
          await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
          current = (await read()) ?? { namespace: q.namespace, name: service, index: 0, endpoints: [], callers: [] };
        }
      }
      c.header("x-leasehold-index", String(current!.index));
      return c.json(current!, 200);
    },
  );
}
