// GET /metrics: Prometheus text exposition of this instance's counters and histograms (per process on
// Node, per isolate on Workers) followed by the fleet gauges read from the store at scrape time (the same
// from every instance).
//
// Who may scrape: the bearer of the scrape token (LEASEHOLD_METRICS_TOKEN), compared in constant time, or
// an operator token holding viewer or more on namespace "*" (fleet-wide): the figures count every
// namespace's tasks and deployments, so a viewer of some namespaces is refused (403). No token, or one that
// is neither: 401.
import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { operatorAuth, requireFleetRole } from "../auth/middleware";
import { bearerToken } from "../auth/tokens";
import type { App, AppEnv, ResolvedDeps } from "../context";
import { EXPOSITION_CONTENT_TYPE, fleetGaugesText, readFleetCounts } from "../metrics";
import { sameSecret } from "./bootstrap";
import { errorResponses } from "./schemas";

export const METRICS_PATH = "/metrics";

export function scrapeAuth(deps: ResolvedDeps): MiddlewareHandler<AppEnv> {
  const authenticateOperator = operatorAuth(deps);
  const scrapeToken = deps.config.metricsToken;
  return async function scrapeAuth(c, next) {
    const token = bearerToken(c.req.header("authorization"));
    if (scrapeToken !== undefined && (await sameSecret(token, scrapeToken))) return next();
    return authenticateOperator(c, async () => {
      requireFleetRole(c, "viewer");
      await next();
    });
  };
}

export function registerMetricsRoute(app: App, deps: ResolvedDeps): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "metricsToken", {
    type: "http",
    scheme: "bearer",
    description: "The control plane's LEASEHOLD_METRICS_TOKEN",
  });
  app.use(METRICS_PATH, scrapeAuth(deps));
  app.openapi(
    createRoute({
      method: "get",
      path: METRICS_PATH,
      summary: "Prometheus metrics: this instance's counters and histograms, and the fleet's gauges read from the store",
      security: [{ metricsToken: [] }, { bearerAuth: [] }],
      responses: {
        200: { description: "Text exposition format 0.0.4", content: { "text/plain": { schema: z.string() } } },
        401: errorResponses[401],
        403: errorResponses[403],
      },
    }),
    async (c) => {
      // The gauges first: a store that cannot be read fails the scrape (500), never a part of it.
      const fleet = fleetGaugesText(await readFleetCounts(deps.store, deps.clock.now()));
      const text = (await deps.metrics.text()) + fleet;
      return c.body(text, 200, { "content-type": EXPOSITION_CONTENT_TYPE, "cache-control": "no-store" });
    },
  );
}
