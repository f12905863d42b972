// GET /v1/events: the fleet's events, as a page of JSON or (follow=1) a Server-Sent Events stream. The
// stream keeps nothing but the index it has sent up to: it reads the store for what is newer every poll
// interval, so any instance serves it and a client resumes on another with Last-Event-ID, missing nothing
// and seeing nothing twice (see db/queries/events.ts). It ends after a set lifetime, which bounds one
// request's store reads; clients reconnect.
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { streamSSE } from "hono/streaming";
import { EVENT_TYPES_PATTERN, EVENT_TYPES_RULE, EVENTS_LIMIT_DEFAULT, EVENTS_LIMIT_MAX, eventPageSchema, eventSchema, parseEventTypes, type FleetEvent } from "../../api/events";
import { NAME_PATTERN, NAME_RULE } from "../../api/job-spec";
import { currentEventIndex, readEventsAfter, readNewestEvents, type EventFilter, type EventRecord } from "../../db/queries/events";
import { jobs } from "../../db/schema";
import { requireFleetRole, requireRole } from "../auth/middleware";
import type { App, ResolvedDeps } from "../context";
import { badRequest, notFound } from "../errors";
import { jobIdOf } from "../jobs/apply";
import { bearer, errorResponses, json } from "./schemas";

// Named components built here from the contract's shapes (see routes/audit.ts for why).
const event = z.object(eventSchema.shape).openapi("Event");
const page = z.object({ ...eventPageSchema.shape, events: z.array(event).describe("Oldest first") }).openapi("EventPage");

const index = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const query = z.object({
  namespace: z.string().regex(NAME_PATTERN, NAME_RULE).optional().describe("Only this namespace's events (without it: the whole fleet's, node events included, for fleet-wide viewers)"),
  job: z.string().regex(NAME_PATTERN, NAME_RULE).optional().describe("Only this job's events (needs namespace)"),
  type: z.string().max(512).regex(EVENT_TYPES_PATTERN, EVENT_TYPES_RULE).optional().describe('Only these types: comma-separated, a type or a prefix ending in "." (task.lost,deployment.)'),
  index: index.optional().describe("Only events after this index (an event id). Following without it (or Last-Event-ID) starts after the newest event"),
  limit: z.coerce.number().int().min(1).max(EVENTS_LIMIT_MAX).default(EVENTS_LIMIT_DEFAULT).describe(`At most this many events in a page (default ${EVENTS_LIMIT_DEFAULT}); without index, the newest ones`),
  follow: z.enum(["1", "true", "0", "false"]).optional().describe("1: answer text/event-stream and keep sending events as they happen"),
});

/** A followed stream reads at most this many events per poll. */
const FOLLOW_BATCH = 500;
const KEEPALIVE_MS = 15_000;

const toEvent = (r: EventRecord): FleetEvent => ({
  id: r.id,
  at: r.at,
  type: r.type,
  message: r.message,
  namespace: r.namespace,
  job: r.jobId === null ? null : r.jobId.slice(r.jobId.indexOf("/") + 1),
  taskId: r.taskId,
  nodeId: r.nodeId,
  deploymentId: r.deploymentId,
});

export function registerEventRoutes(app: App, deps: ResolvedDeps): void {
  const { store, config } = deps;

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/events",
      summary: "The fleet's events: a page, or (follow=1) a Server-Sent Events stream resumable by Last-Event-ID",
      description:
        "Each SSE message is one event: `id:` is its index and `data:` its JSON. A stream resumed with Last-Event-ID (or index) misses no event and repeats none, on whichever instance it reaches. " +
        "Comment lines keep idle streams open. The control plane ends a stream after LEASEHOLD_STREAM_LIFETIME (5 minutes by default); reconnect with the last id.",
      security: bearer,
      request: { query, headers: z.object({ "last-event-id": index.optional().describe("Resume a followed stream after this event") }) },
      responses: {
        200: {
          description: "A page of events, or the stream",
          content: { "application/json": { schema: page }, "text/event-stream": { schema: z.string().describe("id: <index>\\ndata: <Event JSON>\\n\\n per event") } },
        },
        ...errorResponses,
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      if (q.job !== undefined && q.namespace === undefined) throw badRequest("job: needs namespace", [{ path: "query.job", message: "needs namespace" }]);
      if (q.namespace === undefined) requireFleetRole(c, "viewer");
      else requireRole(c, q.namespace, "viewer");
      const filter: EventFilter = {
        ...(q.namespace !== undefined ? { namespace: q.namespace } : {}),
        ...(q.job !== undefined && q.namespace !== undefined ? { jobId: jobIdOf(q.namespace, q.job) } : {}),
        ...(q.type !== undefined ? { types: parseEventTypes(q.type) } : {}),
      };
      if (filter.jobId !== undefined) {
        const [job] = await store.db.select({ id: jobs.id }).from(jobs).where(eq(jobs.id, filter.jobId)).limit(1);
        if (!job) throw notFound(`no job ${filter.jobId}`);
      }
      const resume = c.req.valid("header")["last-event-id"] ?? q.index;

      if (q.follow !== "1" && q.follow !== "true") {
        const rows = resume === undefined ? await readNewestEvents(store.db, filter, q.limit) : await readEventsAfter(store.db, filter, resume, q.limit);
        const last = rows.at(-1)?.id ?? (resume ?? (await currentEventIndex(store.db)));
        return c.json({ events: rows.map(toEvent), index: last }, 200);
      }

      let sent = resume ?? (await currentEventIndex(store.db));
      const started = Date.now();
      // Proxies that buffer (nginx) would hold the stream back.
      c.header("x-accel-buffering", "no");
      return streamSSE(c, async (stream) => {
        let lastWrite = Date.now();
        try {
          // A first comment sends the headers at once, so a client knows the stream is open.
          await stream.write(": open\n\n");
          while (!stream.aborted && Date.now() - started < config.streamLifetime) {
            const rows = await readEventsAfter(store.db, filter, sent, FOLLOW_BATCH);
            for (const r of rows) {
              await stream.writeSSE({ id: String(r.id), data: JSON.stringify(toEvent(r)) });
              sent = r.id;
            }
            if (rows.length > 0) lastWrite = Date.now();
            else if (Date.now() - lastWrite >= KEEPALIVE_MS) {
              await stream.write(": keepalive\n\n");
              lastWrite = Date.now();
            }
            // A full batch means more are waiting: read again at once.
            if (rows.length < FOLLOW_BATCH) await stream.sleep(config.streamPollInterval);
          }
        } catch (err) {
          // The client resumes from the last id it got; the store's error stays in the log.
          if (!stream.aborted) deps.log("event stream ended on an error", { error: err instanceof Error ? err.message : String(err) }, "warn");
        }
      });
    },
  );
}
