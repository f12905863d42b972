// Counts and times every request by its route pattern, never its raw path, so the series stay as many as
// the routes: an id in a path is a label value per id.
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { secondsSince, type Metrics } from "./metrics";

/** The route label of a path no route serves (a 404 from the fallback, a method the path lacks). */
export const UNMATCHED_ROUTE = "unmatched";

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * The pattern of the route that answered, or of the one the request was headed for when a middleware
 * answered first (a refused token, a body too large): middlewares are registered with app.use, method ALL,
 * and every route of ours has a method of its own.
 */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  const at = routes[c.req.routeIndex];
  if (at && at.method !== "ALL") return at.path;
  for (let i = c.req.routeIndex + 1; i < routes.length; i++) {
    const r = routes[i];
    if (r && r.method !== "ALL") return r.path;
  }
  return UNMATCHED_ROUTE;
}

export function requestMetrics(metrics: Metrics): MiddlewareHandler {
  return async function requestMetrics(c, next) {
    const started = performance.now();
    // The one error handler answers inside next(), so the status is the answer's, errors included.
    await next();
    const route = routeLabel(c);
    const method = METHODS.has(c.req.method) ? c.req.method : "other";
    metrics.inc("leasehold_http_requests_total", { route, method, status: String(c.res.status) });
    metrics.observe("leasehold_http_request_duration_seconds", { route, method }, secondsSince(started));
  };
}
