// The dashboard's stream follower against a real HTTP server: it sends the bearer token, resumes with
// Last-Event-ID after the server ends a stream, backs off between attempts, and stops for good on 404
// (no such stream: the page polls instead) and on a refused token.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, expect, it } from "vitest";
import { createApiClient } from "../../web/src/api/client";
import type { SseMessage } from "../../api/sse";
import { followStream, type StreamState } from "../../web/src/stream";

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  server = undefined;
});

async function serve(handler: (headers: IncomingHttpHeaders, n: number, res: import("node:http").ServerResponse) => void): Promise<string> {
  let n = 0;
  server = createServer((req, res) => handler(req.headers, n++, res));
  await new Promise<void>((done) => server!.listen(0, "127.0.0.1", done));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

const eventStream = { "content-type": "text/event-stream", "cache-control": "no-store" };

it("reconnects after the server ends the stream, resuming from the last id it saw", async () => {
  const seen: IncomingHttpHeaders[] = [];
  const base = await serve((headers, n, res) => {
    seen.push(headers);
    res.writeHead(200, eventStream);
    // The first stream ends after two events, split mid-line; the second stays open.
    if (n === 0) res.end(': keepalive\n\nid: 1\ndata: {"id":1}\n\nid: 2\nda', () => undefined);
    if (n === 0) return;
    res.write('id: 3\ndata: {"id":3}\n\n');
  });
  const abort = new AbortController();
  const messages: SseMessage[] = [];
  const states: StreamState["kind"][] = [];
  const refused: unknown[] = [];
  const done = followStream({
    client: createApiClient("tok-1", (e) => refused.push(e), base),
    path: "/v1/events?follow=1",
    onMessage: (m) => {
      messages.push(m);
      if (m.id === "3") abort.abort();
    },
    onState: (s) => states.push(s.kind),
    signal: abort.signal,
    backoff: { initialMs: 20, maxMs: 50 },
  });
  await done;
  expect(messages.map((m) => m.data)).toEqual(['{"id":1}', '{"id":3}']);
  expect(seen.map((h) => h["authorization"])).toEqual(["Bearer tok-1", "Bearer tok-1"]);
  expect(seen.map((h) => h["last-event-id"])).toEqual([undefined, "1"]);
  expect(seen[0]?.["accept"]).toBe("text/event-stream");
  expect(states).toEqual(["connecting", "open", "retrying", "connecting", "open"]);
  expect(refused).toEqual([]);
});

it("starts from the id a backlog read gave, and backs off (doubling, capped) while the server fails", async () => {
  const seen: (string | undefined)[] = [];
  const base = await serve((headers, n, res) => {
    seen.push(headers["last-event-id"] as string | undefined);
    if (n < 3) {
      res.writeHead(503, { "content-type": "application/problem+json" });
      res.end(JSON.stringify({ type: "urn:leasehold:problem:x", title: "x", status: 503, detail: "busy" }));
      return;
    }
    res.writeHead(200, eventStream);
    res.write('id: 12\ndata: {"id":12}\n\n');
  });
  const abort = new AbortController();
  const waits: number[] = [];
  const reasons: string[] = [];
  await followStream({
    client: createApiClient("t", () => undefined, base),
    path: "/v1/events?follow=1",
    lastEventId: "11",
    onMessage: () => abort.abort(),
    onState: (s) => {
      if (s.kind === "retrying") {
        waits.push(s.inMs);
        reasons.push(s.reason);
      }
    },
    signal: abort.signal,
    backoff: { initialMs: 20, maxMs: 60 },
    random: () => 0.999,
  });
  expect(seen).toEqual(["11", "11", "11", "11"]);
  // Each wait lies between half and all of 20, 40, 60 ms (the cap).
  expect(waits).toEqual([20, 40, 60]);
  expect(reasons).toEqual(["busy", "busy", "busy"]);
});

it("gives up on a 404 (no such stream) and on a refused token, which signs the session out", async () => {
  const base = await serve((headers, _n, res) => {
    const status = headers["authorization"] === "Bearer old" ? 401 : 404;
    res.writeHead(status, { "content-type": "application/problem+json" });
    res.end(JSON.stringify({ type: "urn:leasehold:problem:x", title: "x", status, detail: status === 401 ? "token expired" : "no route for GET /v1/events" }));
  });
  const signal = new AbortController().signal;
  const states: StreamState[] = [];
  await followStream({ client: createApiClient("t", () => undefined, base), path: "/v1/events?follow=1", onMessage: () => undefined, onState: (s) => states.push(s), signal });
  expect(states.map((s) => s.kind)).toEqual(["connecting", "unsupported"]);

  const refused: string[] = [];
  const after: StreamState[] = [];
  await followStream({ client: createApiClient("old", (e) => refused.push(e.message), base), path: "/v1/events?follow=1", onMessage: () => undefined, onState: (s) => after.push(s), signal });
  expect(after.map((s) => s.kind)).toEqual(["connecting", "refused"]);
  expect(refused).toEqual(["token expired"]);
});
