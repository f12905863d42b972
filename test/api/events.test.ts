// GET /v1/events against a real libSQL file: pages through the filters, RBAC, bad queries with field paths,
// and the followed stream: live events in order, resumed by Last-Event-ID on another instance of the same
// database with no gap and no repeat, and ended by its lifetime.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EventPage, FleetEvent } from "../../api/events";
import { sseMessages, type SseMessage } from "../../cli/sse";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { applyJson, expectJson, expectProblem, jobSpec } from "./helpers";

let cp: TestControlPlane;

beforeEach(async () => {
  cp = await createTestControlPlane({ config: { streamPollInterval: "100ms" } });
});

afterEach(async () => {
  await cp.settled();
  cp.close();
});

async function page(query = "", token?: string): Promise<EventPage> {
  return expectJson<EventPage>(await cp.call("GET", `/v1/events${query}`, token === undefined ? {} : { token }));
}

async function scale(name: string, replicas: number, namespace = "default"): Promise<void> {
  await expectJson(await cp.call("POST", `/v1/namespaces/${namespace}/jobs/${name}/scale`, { body: { replicas } }));
}

/** Web in default and api in prod, each applied and scaled once. */
async function writeEvents(): Promise<void> {
  await expectJson(await cp.call("POST", "/v1/namespaces", { body: { name: "prod" } }), 201);
  await applyJson(cp, jobSpec({ name: "web" }));
  await applyJson(cp, jobSpec({ name: "api", namespace: "prod" }));
  await scale("web", 3);
  await scale("api", 1, "prod");
  await cp.settled();
}

/** Reads messages from a stream until `until` holds or the deadline passes; cancels it after. */
async function readStream(res: Response, until: (got: FleetEvent[]) => boolean, ms = 10_000): Promise<{ events: FleetEvent[]; messages: SseMessage[]; ended: boolean }> {
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const events: FleetEvent[] = [];
  const messages: SseMessage[] = [];
  const it = sseMessages(res.body!);
  const deadline = Date.now() + ms;
  let ended = false;
  while (!until(events)) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const next = await Promise.race([it.next(), new Promise<null>((r) => setTimeout(() => r(null), left))]);
    if (next === null) break;
    if (next.done) {
      ended = true;
      break;
    }
    messages.push(next.value);
    events.push(JSON.parse(next.value.data) as FleetEvent);
  }
  await it.return(undefined);
  return { events, messages, ended };
}

describe("GET /v1/events", () => {
  it("pages the fleet's events oldest first, by namespace, job and type, after an index", async () => {
    await writeEvents();
    const all = await page("?limit=1000");
    expect(all.events.length).toBeGreaterThan(4);
    const ids = all.events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(all.index).toBe(ids.at(-1));
    expect(all.events.map((e) => e.type)).toEqual(expect.arrayContaining(["job.version", "job.scale", "deployment.started"]));

    const prod = await page("?namespace=prod&limit=1000");
    expect(prod.events.length).toBeGreaterThan(0);
    expect(prod.events.every((e) => e.namespace === "prod" && e.job === "api")).toBe(true);

    const web = await page("?namespace=default&job=web&type=job.&limit=1000");
    expect(web.events.map((e) => e.type)).toEqual(["job.version", "job.scale"]);
    expect(web.events.every((e) => e.job === "web" && e.namespace === "default")).toBe(true);

    const exact = await page("?type=job.scale,deployment.started&limit=1000");
    expect(new Set(exact.events.map((e) => e.type))).toEqual(new Set(["job.scale", "deployment.started"]));

    // The newest two, then what follows an index: nothing repeats, nothing is skipped.
    const newest = await page("?limit=2");
    expect(newest.events.map((e) => e.id)).toEqual(ids.slice(-2));
    const first = await page("?index=0&limit=3");
    const rest = await page(`?index=${first.index}&limit=1000`);
    expect([...first.events, ...rest.events].map((e) => e.id)).toEqual(ids);
    // Past the end: empty, and the index stays where it was asked.
    expect(await page(`?index=${all.index}`)).toEqual({ events: [], index: all.index });
  });

  it("lets a namespace's viewer read that namespace only, and the fleet to fleet-wide viewers", async () => {
    await writeEvents();
    const prodViewer = await cp.token({ prod: "viewer" }, "pat");
    expect((await page("?namespace=prod", prodViewer)).events.length).toBeGreaterThan(0);
    await expectProblem(await cp.call("GET", "/v1/events", { token: prodViewer }), 403);
    await expectProblem(await cp.call("GET", "/v1/events?namespace=default", { token: prodViewer }), 403);
    const followed = await readStream(await cp.call("GET", "/v1/events?namespace=prod&follow=1", { token: prodViewer, headers: { "last-event-id": "0" } }), (got) => got.length >= 2);
    expect(followed.events.length).toBe(2);
    expect(followed.events.every((e) => e.namespace === "prod")).toBe(true);
    const fleetViewer = await cp.token({ "*": "viewer" }, "vic");
    expect((await page("?limit=1000", fleetViewer)).events.length).toBe((await page("?limit=1000")).events.length);
    await expectProblem(await cp.call("GET", "/v1/events", { token: null }), 401);
  });

  it("answers a bad query with its field, and a job that does not exist with 404", async () => {
    const jobOnly = await expectProblem(await cp.call("GET", "/v1/events?job=web"), 400);
    expect(JSON.stringify(jobOnly)).toContain("query.job");
    for (const [query, field] of [["?type=Task", "type"], ["?index=-1", "index"], ["?limit=0", "limit"], ["?follow=maybe", "follow"]] as const) {
      const problem = await expectProblem(await cp.call("GET", `/v1/events${query}`), 400);
      expect(JSON.stringify(problem), query).toContain(field);
    }
    await expectProblem(await cp.call("GET", "/v1/events?namespace=default&job=nope"), 404);
  });

  it("follows: sends what happens after it opened, in order, and resumes on another instance without gaps or repeats", async () => {
    await writeEvents();
    const before = (await page()).index;
    const res = await cp.call("GET", "/v1/events?follow=1&namespace=default&job=web");
    // Nothing old comes first: the stream starts after the newest event.
    await scale("web", 5);
    await cp.settled();
    const live = await readStream(res, (got) => got.some((e) => e.type === "job.scale"));
    expect(live.events.length).toBeGreaterThan(0);
    expect(live.events.every((e) => e.id > before && e.job === "web")).toBe(true);
    expect(live.messages.map((m) => m.id)).toEqual(live.events.map((e) => String(e.id)));
    expect(live.events[0]!.type).toBe("job.scale");

    // More happens while no one listens; a second instance on the same database resumes after the last id.
    const lastSeen = live.events.at(-1)!.id;
    await scale("web", 1);
    await scale("web", 2);
    await cp.settled();
    const other = await createTestControlPlane({ dir: cp.dir, keys: cp.keys, clock: cp.clock, config: { streamPollInterval: "100ms" } });
    try {
      const expected = (await page(`?namespace=default&job=web&index=${lastSeen}&limit=1000`)).events.map((e) => e.id);
      expect(expected.length).toBeGreaterThan(1);
      const resumed = await readStream(
        await other.call("GET", "/v1/events?follow=1&namespace=default&job=web", { headers: { "last-event-id": String(lastSeen) } }),
        (got) => got.length >= expected.length,
      );
      expect(resumed.events.map((e) => e.id)).toEqual(expected);
    } finally {
      await other.settled();
      other.close();
    }
  });

  it("ends a followed stream after its lifetime, so a client resumes it", async () => {
    const short = await createTestControlPlane({ config: { streamPollInterval: "100ms", streamLifetime: "1s" } });
    try {
      const res = await short.call("GET", "/v1/events?follow=1");
      const read = await readStream(res, () => false, 10_000);
      expect(read.ended).toBe(true);
    } finally {
      short.close();
    }
  });
});
