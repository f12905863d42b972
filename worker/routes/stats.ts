// GET /v1/namespaces/{namespace}/stats: the tasks' cpu and memory samples, newest first, for `top`, the
// dashboard and (later) the autoscaler. They are what heartbeats brought in (see db/queries/task-stats.ts).
import { createRoute, z } from "@hono/zod-openapi";
import { NAME_PATTERN, NAME_RULE } from "../../api/job-spec";
import { taskSamplesSchema } from "../../api/task-stats";
import { readTaskSamples, TASK_STATS_KEPT } from "../../db/queries/task-stats";
import { requireRole } from "../auth/middleware";
import type { App, ResolvedDeps } from "../context";
import { jobIdOf } from "../jobs/apply";
import { taskSampleSchema } from "./jobs";
import { bearer, errorResponses, json, namespaceParam } from "./schemas";

// Named components built here from the contract's shapes (see routes/audit.ts for why).
const taskSamples = z.object({ ...taskSamplesSchema.shape, samples: z.array(taskSampleSchema).describe("Newest first") }).openapi("TaskSamples");

export function registerStatsRoutes(app: App, deps: ResolvedDeps): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{namespace}/stats",
      summary: "The cpu and memory samples of a namespace's tasks (or one job's), newest first",
      description: `Agents sample each running task on an interval (10 s by default) and report the sample in their next heartbeat. The newest ${TASK_STATS_KEPT} samples of each task are kept.`,
      security: bearer,
      request: {
        params: namespaceParam,
        query: z.object({
          job: z.string().regex(NAME_PATTERN, NAME_RULE).optional().describe("Only this job's tasks"),
          samples: z.coerce.number().int().min(1).max(TASK_STATS_KEPT).default(1).describe(`How many of each task's newest samples (default 1, at most ${TASK_STATS_KEPT})`),
        }),
      },
      responses: { 200: json(z.object({ tasks: z.array(taskSamples).describe("Tasks with at least one sample, by job and slot") }), "Samples"), ...errorResponses },
    }),
    async (c) => {
      const { namespace } = c.req.valid("param");
      const q = c.req.valid("query");
      requireRole(c, namespace, "viewer");
      const rows = await readTaskSamples(deps.store.db, { namespace, ...(q.job !== undefined ? { jobId: jobIdOf(namespace, q.job) } : {}) }, q.samples);
      return c.json({ tasks: rows.map(({ jobId, ...t }) => ({ ...t, job: jobId.slice(jobId.indexOf("/") + 1) })) }, 200);
    },
  );
}
