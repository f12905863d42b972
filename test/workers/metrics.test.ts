// GET /metrics inside workerd, through the real Worker entry, against a database only this file uses
// (LIBSQL_METRICS_URL): the scrape token binding is taken, the store gauges count what was seeded, the
// isolate's counters outlive the control plane built per request, and the text keeps the exposition
// format's rules (checked line by line here; promtool cannot run in workerd, and checks the same
// registry's text in test/api/metrics.test.ts and the bundled Worker's in test/deploy/worker-metrics.test.ts).
import { env } from "cloudflare:workers";
import { createClient } from "@libsql/client/web";
import { describe, expect, it } from "vitest";
import { HollowAgent } from "../../bench/hollow-agent.ts";
import { createStore } from "../../db/store.ts";
import { generateSigningKey } from "../../worker/auth/keys.ts";
import { recordOperatorToken } from "../../worker/auth/operator-tokens.ts";
import { bootstrap } from "../../worker/bootstrap.ts";
import { systemClock } from "../../worker/clock.ts";
import worker, { type Env } from "../../worker/index.ts";

const ctx = { waitUntil: (_p: Promise<unknown>) => {}, passThroughOnException: () => {}, props: {} };
const SCRAPE_TOKEN = "workers-scrape-token-0123456789abcdefghij";

const { keys, privateJwk } = await generateSigningKey();
const workerEnv: Env = { LIBSQL_URL: env.LIBSQL_METRICS_URL, LEASEHOLD_SIGNING_KEY: JSON.stringify(privateJwk), LEASEHOLD_METRICS_TOKEN: SCRAPE_TOKEN };

function call(method: string, path: string, token: string | null, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const init = { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) };
  return worker.fetch(new Request(`https://leasehold.test${path}`, init) as never, workerEnv, ctx as never) as unknown as Promise<Response>;
}

function valueOf(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABELS = `\\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"(?:,(?!\\}))?)*\\}`;
const SAMPLE = new RegExp(`^(${NAME})(${LABELS})? (-?[0-9.]+(?:e[-+]?[0-9]+)?|[-+]Inf|NaN)$`);

/**
 * The text format's rules promtool would hold it to, as far as a test can say them: every line a HELP, a
 * TYPE or a sample; each family's HELP and TYPE once, before its samples; counters named _total;
 * histograms with cumulative buckets ending at +Inf equal to _count; no series twice; a newline at the end.
 */
function formatProblems(text: string): string[] {
  const problems: string[] = [];
  if (!text.endsWith("\n")) problems.push("no newline at the end");
  const types = new Map<string, string>();
  const helped = new Set<string>();
  const seen = new Set<string>();
  const buckets = new Map<string, { last: number; inf?: number }>();
  const counts = new Map<string, number>();
  const lines = text.split("\n");
  if (text.endsWith("\n")) lines.pop();
  for (const line of lines) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (kind === "TYPE") {
        if (types.has(name)) problems.push(`TYPE of ${name} twice`);
        if (!["counter", "gauge", "histogram"].includes(rest)) problems.push(`${name}: type ${rest}`);
        if (rest === "counter" && !name.endsWith("_total")) problems.push(`counter ${name} is not named _total`);
        types.set(name, rest);
      } else {
        if (helped.has(name)) problems.push(`HELP of ${name} twice`);
        if (rest.trim() === "") problems.push(`${name} has no help`);
        helped.add(name);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) {
      problems.push(`not a sample: ${line}`);
      continue;
    }
    const [, name, labels = "", value] = m as unknown as [string, string, string | undefined, string];
    if (seen.has(name + labels)) problems.push(`series twice: ${name}${labels}`);
    seen.add(name + labels);
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "");
    const type = types.get(family);
    if (!type) problems.push(`${name}: sample before its TYPE`);
    if (!helped.has(family)) problems.push(`${name}: no HELP`);
    if (type === "histogram") {
      const le = /le="([^"]+)"/.exec(labels)?.[1];
      const series = family + labels.replace(/,?le="[^"]+"/, "").replace("{}", "");
      const n = Number(value);
      if (name.endsWith("_bucket")) {
        const b = buckets.get(series) ?? { last: 0 };
        if (n < b.last) problems.push(`${series}: buckets not cumulative at le=${le}`);
        b.last = n;
        if (le === "+Inf") b.inf = n;
        buckets.set(series, b);
      } else if (name.endsWith("_count")) counts.set(series, n);
    } else if (name !== family) problems.push(`${name}: suffix on a ${type}`);
  }
  for (const [series, b] of buckets) {
    if (b.inf === undefined) problems.push(`${series}: no +Inf bucket`);
    else if (counts.get(series) !== b.inf) problems.push(`${series}: +Inf bucket ${b.inf} is not _count ${counts.get(series)}`);
  }
  return problems;
}

describe("/metrics in workerd", () => {
  it("checks its own format rules (a text that breaks them is caught)", () => {
    expect(formatProblems("# HELP a_total x\n# TYPE a_total counter\na_total 1\n")).toEqual([]);
    expect(formatProblems("# HELP a x\n# TYPE a counter\na 1\na 2\nb{x=\"1\"} 3")).toEqual(["no newline at the end", "counter a is not named _total", "series twice: a", "b: sample before its TYPE", "b: no HELP"]);
    const hist = '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 3\nh_count 2\n';
    expect(formatProblems(hist)).toEqual(["h: buckets not cumulative at le=+Inf", "h: +Inf bucket 1 is not _count 2"]);
  });

  it("answers the scrape token and admins with the store's gauges and the isolate's counters; refuses others", async () => {
    const store = createStore(createClient({ url: env.LIBSQL_METRICS_URL }));
    const admin = (await bootstrap(store, keys, systemClock, 3_600_000)) ?? (await recordOperatorToken(store, keys, systemClock, { subject: "metrics-test", roles: { "*": "admin" }, ttlMs: 3_600_000, createdBy: "test" }));

    const unauthorized = await call("GET", "/metrics", null);
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("content-type")).toContain("application/problem+json");
    expect((await call("GET", "/metrics", "not-the-scrape-token-0123456789abcdefghij")).status).toBe(401);

    // Three nodes, one of them down; a job of two slots on the ready ones.
    const joined = await call("POST", "/v1/join-tokens", admin, {});
    expect(joined.status).toBe(201);
    const { token } = (await joined.json()) as { token: string };
    const fetcher = (path: string, init: RequestInit) => worker.fetch(new Request(`https://leasehold.test${path}`, init) as never, workerEnv, ctx as never) as unknown as Promise<Response>;
    const agents = ["edge-a", "edge-b", "edge-c"].map((name) => new HollowAgent(fetcher, name, { labels: { tier: name === "edge-c" ? "spare" : "web" } }));
    for (const agent of agents) {
      await agent.enroll(token);
      await agent.heartbeat();
    }
    await store.client.execute({ sql: "UPDATE nodes SET status = 'down' WHERE name = 'edge-c'", args: [] });
    const applied = await call("POST", "/v1/jobs", admin, { name: "edge-web", image: "busybox:1", replicas: 2, resources: { cpu: 100, memory: 32 }, constraints: [{ attribute: "label.tier", value: "web" }] });
    expect(applied.status).toBe(200);
    for (const agent of agents.slice(0, 2)) await agent.claim();
    expect((await call("GET", "/v1/namespaces/default/jobs/no-such-job", admin)).status).toBe(404);

    const res = await call("GET", "/metrics", SCRAPE_TOKEN);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    expect(formatProblems(text)).toEqual([]);
    expect(valueOf(text, 'leasehold_nodes{state="ready"}')).toBe(2);
    expect(valueOf(text, 'leasehold_nodes{state="down"}')).toBe(1);
    expect(valueOf(text, 'leasehold_tasks{state="leased"}')).toBe(2);
    expect(valueOf(text, "leasehold_evaluations_due")).toBe(0);
    expect(valueOf(text, "leasehold_lease_grants_total")).toBeGreaterThanOrEqual(2);
    expect(valueOf(text, 'leasehold_heartbeats_total{result="ok"}')).toBeGreaterThanOrEqual(3);
    expect(valueOf(text, 'leasehold_http_requests_total{route="/v1/namespaces/:namespace/jobs/:name",method="GET",status="404"}')).toBeGreaterThanOrEqual(1);
    expect(valueOf(text, 'leasehold_store_duration_seconds_count{op="read"}')).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain("no-such-job");
    // The Worker carries no prom-client, and has no process to report on.
    expect(text).not.toContain("process_");

    // Each request builds its own control plane; the isolate's counters carry over from one to the next.
    const scrapes = 'leasehold_http_requests_total{route="/metrics",method="GET",status="200"}';
    const before = valueOf(text, scrapes) ?? 0;
    const again = await (await call("GET", "/metrics", admin)).text();
    expect(valueOf(again, scrapes)).toBe(before + 1);
    expect(valueOf(again, 'leasehold_nodes{state="ready"}')).toBe(2);
  });
});
