// The fleet's event stream as GET /v1/events serves it: one shape for the JSON page and the SSE messages.
import { z } from "zod";

export const EVENTS_LIMIT_DEFAULT = 100;
export const EVENTS_LIMIT_MAX = 1000;

/** A type filter: comma-separated types ("task.lost") or prefixes ending in "." ("deployment."). */
export const EVENT_TYPES_PATTERN = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.?(,[a-z0-9-]+(\.[a-z0-9-]+)*\.?)*$/;
export const EVENT_TYPES_RULE = 'must be event types or prefixes ending in ".", separated by commas (task.lost,deployment.)';

export const eventSchema = z.object({
  id: z.number().describe("The event's index: ids only rise, so the highest one seen resumes a stream"),
  at: z.number().describe("When, in milliseconds since the epoch"),
  type: z.string().describe("What happened, as noun.verb: task.placed, task.lost, deployment.started, job.scale, …"),
  message: z.string(),
  namespace: z.string().nullable().describe("null for node events"),
  job: z.string().nullable().describe("The job's name within its namespace"),
  taskId: z.string().nullable(),
  nodeId: z.string().nullable(),
  deploymentId: z.string().nullable(),
});
export type FleetEvent = z.infer<typeof eventSchema>;

export const eventPageSchema = z.object({
  events: z.array(eventSchema).describe("Oldest first"),
  index: z.number().describe("Pass back as ?index= (or Last-Event-ID when following) for the events after these: the highest id returned, else the highest id the filter could have returned"),
});
export type EventPage = z.infer<typeof eventPageSchema>;

/** The types a filter names, split into whole types and prefixes. */
export function parseEventTypes(text: string): { exact: string[]; prefixes: string[] } {
  const parts = text.split(",").filter((p) => p !== "");
  return { exact: parts.filter((p) => !p.endsWith(".")), prefixes: parts.filter((p) => p.endsWith(".")) };
}
