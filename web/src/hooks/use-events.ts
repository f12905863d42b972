// Live events: the newest ones read once (GET /v1/events), then followed on the stream from there
// (follow=1, resumed by Last-Event-ID). A control plane without the stream (404) is polled instead: a
// job's own events every 2 s, or, for the whole fleet, nothing (the page says so).
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, isMissingRoute, jobPath } from "../api/client";
import type { EventPage, FleetEvent } from "../api/types";
import { useSession } from "../session-context";
import { followStream } from "../stream";
import { POLL_MS } from "./use-poll";

export type FeedMode = "loading" | "live" | "reconnecting" | "polling" | "unsupported" | "refused";

export interface EventFeed {
  /** Oldest first, at most `keep`. */
  events: FleetEvent[];
  mode: FeedMode;
  error: unknown;
}

export interface EventQuery {
  namespace?: string | undefined;
  job?: string | undefined;
  /** Comma-separated types or prefixes ending in "." (task.,deployment.). */
  type?: string | undefined;
}

function queryString(q: EventQuery, extra: Record<string, string>): string {
  const params = new URLSearchParams();
  if (q.namespace) params.set("namespace", q.namespace);
  if (q.job) params.set("job", q.job);
  if (q.type) params.set("type", q.type);
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  return params.toString();
}

/** `onNew` hears each event that arrives after the first read (not the backlog). */
export function useEvents(query: EventQuery | null, keep: number, onNew?: (e: FleetEvent) => void): EventFeed {
  const { client } = useSession();
  const [feed, setFeed] = useState<EventFeed>({ events: [], mode: "loading", error: undefined });
  const heard = useRef(onNew);
  heard.current = onNew;
  const key = query ? JSON.stringify(query) : null;

  useEffect(() => {
    if (!query) return;
    const abort = new AbortController();
    const { signal } = abort;
    let events: FleetEvent[] = [];
    const publish = (patch: Partial<EventFeed>) => {
      if (!signal.aborted) setFeed((f) => ({ ...f, events, ...patch }));
    };
    const add = (incoming: FleetEvent[], live: boolean) => {
      const known = new Set(events.map((e) => e.id));
      const fresh = incoming.filter((e) => !known.has(e.id));
      if (fresh.length === 0) return;
      events = [...events, ...fresh].sort((a, b) => a.id - b.id).slice(-keep);
      if (live) for (const e of fresh) heard.current?.(e);
    };
    setFeed({ events: [], mode: "loading", error: undefined });

    async function pollJobEvents(namespace: string, job: string) {
      publish({ mode: "polling" });
      let first = true;
      while (!signal.aborted) {
        try {
          // A job's own events (newest first) lack the stream's namespace, job and deployment fields.
          const { events: rows } = await client.get<{ events: Omit<FleetEvent, "namespace" | "job" | "deploymentId">[] }>(`${jobPath(namespace, job)}/events?limit=${Math.min(keep, 1000)}`, signal);
          add(rows.map((e) => ({ ...e, namespace, job, deploymentId: null })), !first);
          first = false;
          publish({ mode: "polling", error: undefined });
        } catch (error) {
          if (signal.aborted) return;
          publish({ error });
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    }

    async function run(q: EventQuery) {
      let index: number | undefined;
      // The first read is retried like the stream is: a control plane that is restarting comes back.
      for (let wait = 1_000; index === undefined; wait = Math.min(wait * 2, 30_000)) {
        try {
          const backlog = await client.get<EventPage>(`/v1/events?${queryString(q, { limit: String(Math.min(keep, 1000)) })}`, signal);
          add(backlog.events, false);
          index = backlog.index;
          publish({ error: undefined });
        } catch (error) {
          if (signal.aborted) return;
          if (isMissingRoute(error)) {
            if (q.namespace && q.job) return pollJobEvents(q.namespace, q.job);
            return publish({ mode: "unsupported" });
          }
          if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return publish({ mode: "refused", error });
          publish({ mode: "reconnecting", error });
          await new Promise((r) => setTimeout(r, wait));
          if (signal.aborted) return;
        }
      }
      await followStream({
        client,
        path: `/v1/events?${queryString(q, { follow: "1" })}`,
        lastEventId: String(index),
        signal,
        onMessage: (m) => {
          try {
            add([JSON.parse(m.data) as FleetEvent], true);
            publish({});
          } catch {
            // A message that is not an event (a future kind): skipped.
          }
        },
        onState: (s) => {
          if (s.kind === "open") publish({ mode: "live", error: undefined });
          else if (s.kind === "retrying") publish({ mode: "reconnecting" });
          else if (s.kind === "unsupported") publish({ mode: "unsupported" });
          else if (s.kind === "refused") publish({ mode: "refused", error: s.error });
        },
      });
    }
    void run(query);
    return () => abort.abort();
    // The query's contents, not its identity, decide when to start over.
  }, [key, keep, client]);

  return feed;
}
