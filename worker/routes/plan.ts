// POST /v1/jobs/plan: what applying a job file would do (the change, the field diff, each node's slots),
// answered without writing anything — no job, version, evaluation, event or audit row.
import { createRoute, z } from "@hono/zod-openapi";
import { planResponseSchema } from "../../api/job-plan";
import { jobSpecSchema } from "../../api/job-spec";
import { requireRole, requireRoleSomewhere } from "../auth/middleware";
import { readJobSpec } from "../body";
import type { App, ResolvedDeps } from "../context";
import { planJob } from "../jobs/plan";
import type { FleetTiming } from "../leases/timing";
import { bearer, errorResponses, jobFileBody, json } from "./schemas";

const planRoute = createRoute({
  method: "post",
  path: "/v1/jobs/plan",
  summary: "Plan a job spec (YAML or JSON): what applying it would change and where its slots would go; writes nothing",
  security: bearer,
  request: {
    body: jobFileBody,
  },
  responses: {
    200: json(planResponseSchema, "What apply would do"),
    ...errorResponses,
  },
});

export function registerPlanRoutes(app: App, deps: ResolvedDeps, timing: FleetTiming): void {
  // Parsed by hand, as apply is, so YAML and JSON share one validation path and one error shape.
  app.openAPIRegistry.registerPath(planRoute);
  app.post("/v1/jobs/plan", async (c) => {
    // The same roles as apply: a plan reveals what an apply would (the running spec, where slots are).
    requireRoleSomewhere(c, "operator");
    const spec = await readJobSpec(c);
    requireRole(c, spec.namespace, "operator");
    return c.json(await planJob(deps, await timing.current(), spec), 200);
  });
}
