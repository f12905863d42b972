// A task's cpu and memory samples as the API serves them (GET /v1/namespaces/{ns}/stats and each task's
// `stats` in a job's detail).
import { z } from "zod";

export const taskSampleSchema = z.object({
  at: z.number().describe("When the agent took it (the control plane's time)"),
  cpuPercent: z.number().describe("Percent of one core (200: two cores busy)"),
  memoryBytes: z.number(),
  memoryLimitBytes: z.number().nullable().describe("The container's memory limit; null without one"),
});
export type TaskSample = z.infer<typeof taskSampleSchema>;

export const taskSamplesSchema = z.object({
  taskId: z.string(),
  job: z.string().describe("The job's name"),
  slot: z.number(),
  nodeId: z.string().nullable(),
  state: z.string(),
  samples: z.array(taskSampleSchema).describe("Newest first"),
});
export type TaskSamples = z.infer<typeof taskSamplesSchema>;
