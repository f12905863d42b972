// A job's plan: what applying a job file would do, answered by POST /v1/jobs/plan without writing anything.
import { z } from "zod";
import type { SpecChange } from "./spec-diff";

export const specChangeSchema = z.object({
  path: z.string().describe("The changed leaf, dotted: env.LOG_LEVEL, ports.0.container"),
  kind: z.enum(["added", "removed", "changed"]),
  from: z.unknown().optional(),
  to: z.unknown().optional(),
}) satisfies z.ZodType<SpecChange>;

/** What apply would do: nothing, create the job, change its count alone, or store a new version. */
export const planChangeSchema = z.enum(["none", "create", "scale", "version"]);
export type PlanChange = z.infer<typeof planChangeSchema>;

const slots = (what: string) => z.array(z.int().min(0)).describe(`Slot numbers, ascending: ${what}`);

export const planNodeSchema = z.object({
  id: z.string(),
  name: z.string(),
  placed: slots("slots that would get a new copy on this node (new slots, or slots whose copy was lost or failed)"),
  stopped: slots("slots whose copy here would stop for good (at or above the new count)"),
  kept: slots("slots whose copy here would keep running untouched"),
  rolled: slots("slots whose copy here runs an older version and would be replaced by the new one"),
});
export type PlanNode = z.infer<typeof planNodeSchema>;

export const planResponseSchema = z.object({
  jobId: z.string(),
  change: planChangeSchema,
  current: z
    .object({
      version: z.int().describe("The job's version now: pass it to apply's checkVersion to apply only while nothing else changed it"),
      replicas: z.int(),
      status: z.enum(["running", "stopped"]),
    })
    .nullable()
    .describe("The job as it is; null when it does not exist"),
  version: z.int().describe("The version the job would run once applied"),
  replicas: z.int().describe("The count it would have once applied"),
  diff: z.array(specChangeSchema).describe("Field by field, from the current version's spec (with the job's count) to the file's; against an empty spec for a new job"),
  nodes: z.array(planNodeSchema).describe("Every node the apply would touch or leave running a copy on, by name"),
  unplaced: z.array(z.object({ slot: z.int(), reason: z.string() })).describe("Slots no node could take, with why"),
});
export type PlanResponse = z.infer<typeof planResponseSchema>;
