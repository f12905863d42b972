// GET /metrics on the control plane: who may scrape (the scrape token, a fleet-wide viewer; nobody else),
// counters that follow requests, heartbeats, claims and evaluations by route pattern and fixed reasons,
// store gauges that any instance on the same database answers alike, and text that passes promtool, from
// both registries (prom-client on Node; the dependency-free one the Worker runs) and from the Node entry.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { HeartbeatResponse } from "../../api/agent-protocol";
import { HollowAgent, ProtocolError, type Fetcher } from "../../bench/hollow-agent";
import { writeBatch } from "../../db/batch";
import { requestEvaluations } from "../../db/queries/evaluations";
import { ConfigError, configFromEnv, parseConfig } from "../../worker/config";
import { createMetricsRegistry } from "../../worker/metrics";
import { createPromClientMetrics } from "../../worker/metrics/prom-client-metrics";
import { startNodeServer } from "../../worker/node";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { expectJson, expectProblem } from "./helpers";

const SCRAPE_TOKEN = "scrape-token-for-tests-0123456789abcdef";
const opened: TestControlPlane[] = [];

beforeAll(() => {
  // promtool comes from Debian's prometheus package; the script installs it, or says why it cannot.
  try {
    execFileSync("bash", ["scripts/ensure-promtool.sh"], { stdio: ["ignore", "ignore", "pipe"], timeout: 240_000 });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`promtool is needed to check the control plane's metrics and could not be made available: ${stderr || (err as Error).message}`, { cause: err });
  }
}, 300_000);

afterEach(async () => {
  // Instances sharing a directory first; the one that made it removes it.
  for (const cp of opened.reverse()) {
    await cp.settled();
    cp.close();
  }
  opened.length = 0;
});

async function controlPlane(opts: Parameters<typeof createTestControlPlane>[0] = {}): Promise<TestControlPlane> {
  const cp = await createTestControlPlane({ config: { metricsToken: SCRAPE_TOKEN }, metrics: createPromClientMetrics(), ...opts });
  opened.push(cp);
  return cp;
}

async function scrape(cp: TestControlPlane, token: string | null = SCRAPE_TOKEN): Promise<string> {
  const res = await cp.call("GET", "/metrics", { token });
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return res.text();
}

/** The value of the sample line that is exactly `series` (name and labels) and a value, or undefined. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function expectPromtoolPasses(text: string): void {
  const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  expect(check.error).toBeUndefined();
  expect(check.status, `promtool check metrics: ${check.stdout}${check.stderr}`).toBe(0);
}

/** The store-derived families' lines, HELP and TYPE included. */
function gaugeLines(text: string): string[] {
  return text.split("\n").filter((l) => /^(# (HELP|TYPE) )?leasehold_(nodes|tasks|deployments|evaluations_due)[ {]/.test(l));
}

const fetcherOf =
  (cp: TestControlPlane): Fetcher =>
  async (path, init) =>
    cp.app.request(path, init);

async function joinToken(cp: TestControlPlane): Promise<string> {
  return (await expectJson<{ token: string }>(await cp.call("POST", "/v1/join-tokens", { body: {} }), 201)).token;
}

describe("who may scrape /metrics", () => {
  it("takes the scrape token and fleet-wide viewers or more; refuses everyone else with problem+json", async () => {
    const cp = await controlPlane();
    await scrape(cp, SCRAPE_TOKEN);
    await scrape(cp, cp.adminToken);
    await scrape(cp, await cp.token({ "*": "viewer" }));
    await scrape(cp, await cp.token({ "*": "operator", default: "viewer" }));

    await expectProblem(await cp.call("GET", "/metrics", { token: null }), 401, "unauthorized");
    await expectProblem(await cp.call("GET", "/metrics", { token: `${SCRAPE_TOKEN}x` }), 401, "unauthorized");
    await expectProblem(await cp.call("GET", "/metrics", { token: SCRAPE_TOKEN.slice(0, -1) }), 401, "unauthorized");
    await expectProblem(await cp.call("GET", "/metrics", { token: null, headers: { authorization: `Basic ${SCRAPE_TOKEN}` } }), 401, "unauthorized");
    // A node's credential is no operator token.
    const agent = new HollowAgent(fetcherOf(cp), "scraper-node");
    await agent.enroll(await joinToken(cp));
    await expectProblem(await cp.call("GET", "/metrics", { token: agent.credential }), 401, "unauthorized");
    // A revoked fleet viewer.
    const revoked = await cp.token({ "*": "viewer" }, "revoked-viewer");
    await cp.store.client.execute({ sql: "UPDATE api_tokens SET revoked_at = ? WHERE subject = ?", args: [cp.clock.now(), "revoked-viewer"] });
    await expectProblem(await cp.call("GET", "/metrics", { token: revoked }), 401, "unauthorized");

    // The figures count every namespace: roles on some namespaces, even admin, are not enough.
    const forbidden = await expectProblem(await cp.call("GET", "/metrics", { token: await cp.token({ default: "viewer" }) }), 403, "forbidden");
    expect(forbidden.detail).toContain('namespace "*"');
    await expectProblem(await cp.call("GET", "/metrics", { token: await cp.token({ default: "admin", prod: "admin" }) }), 403, "forbidden");
  });

  it("without LEASEHOLD_METRICS_TOKEN, answers operators only", async () => {
    const cp = await controlPlane({ config: {} });
    await scrape(cp, cp.adminToken);
    await expectProblem(await cp.call("GET", "/metrics", { token: SCRAPE_TOKEN }), 401, "unauthorized");
  });

  it("refuses a short or malformed scrape token at start, without quoting it", () => {
    for (const bad of ["short-token", `${"x".repeat(40)} with spaces`]) {
      let error: unknown;
      try {
        configFromEnv({ LEASEHOLD_METRICS_TOKEN: bad });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain("LEASEHOLD_METRICS_TOKEN=(not shown)");
      expect((error as Error).message).not.toContain(bad);
    }
    // A pasted line break is not part of it.
    expect(configFromEnv({ LEASEHOLD_METRICS_TOKEN: `${SCRAPE_TOKEN}\n` }).metricsToken).toBe(SCRAPE_TOKEN);
  });
});

describe("what /metrics counts", () => {
  it("follows requests by route pattern, heartbeats, claims, grants and evaluations; gauges the fleet from the store", async () => {
    const cp = await controlPlane();
    const token = await joinToken(cp);
    const web = [new HollowAgent(fetcherOf(cp), "web-1", { labels: { role: "web" } }), new HollowAgent(fetcherOf(cp), "web-2", { labels: { role: "web" } })];
    const spare = new HollowAgent(fetcherOf(cp), "spare-1");
    const told: HeartbeatResponse[] = [];
    const beat = async (agent: HollowAgent) => void told.push(await agent.heartbeat());
    for (const agent of [...web, spare]) {
      await agent.enroll(token);
      await beat(agent);
    }
    const webSpec = { name: "web", image: "busybox:1", replicas: 2, resources: { cpu: 100, memory: 32 }, constraints: [{ attribute: "label.role", value: "web" }] };
    await expectJson(await cp.call("POST", "/v1/jobs", { body: webSpec }));
    for (const agent of web) await agent.claim();
    expect(web.reduce((n, a) => n + a.leases.size, 0)).toBe(2);
    // The spare falls silent: after three lease TTLs the sweep marks it down. The web nodes keep renewing.
    for (let i = 0; i < 5; i++) {
      cp.clock.advance(10_000);
      for (const agent of web) await beat(agent);
    }
    await cp.tick();
    await cp.settled();
    // No node is large enough: both slots wait, each a placement failure for want of cpu.
    const huge = await expectJson<{ evaluation: { unplaced: unknown[] } }>(await cp.call("POST", "/v1/jobs", { body: { name: "huge", image: "busybox:1", replicas: 2, resources: { cpu: 99_999, memory: 32 } } }));
    expect(huge.evaluation.unplaced).toHaveLength(2);
    await cp.settled();

    await expectProblem(await cp.call("GET", "/v1/namespaces/default/jobs/ghost-job"), 404);
    await expectProblem(await cp.call("GET", "/no/such/path"), 404);
    await expectProblem(await cp.call("GET", "/v1/namespaces/default/jobs/ghost-job", { token: null }), 401);

    const text = await scrape(cp);
    const jobRoute = 'route="/v1/namespaces/:namespace/jobs/:name"';
    expect(valueOf(text, `leasehold_http_requests_total{${jobRoute},method="GET",status="404"}`)).toBe(1);
    // Refused before the handler ran: still the route it was headed for.
    expect(valueOf(text, `leasehold_http_requests_total{${jobRoute},method="GET",status="401"}`)).toBe(1);
    expect(valueOf(text, 'leasehold_http_requests_total{route="unmatched",method="GET",status="404"}')).toBe(1);
    expect(valueOf(text, `leasehold_http_request_duration_seconds_count{${jobRoute},method="GET"}`)).toBe(2);
    expect(valueOf(text, 'leasehold_http_requests_total{route="/v1/jobs",method="POST",status="200"}')).toBe(2);
    // Raw paths and ids never become label values.
    expect(text).not.toContain("ghost-job");
    expect(text).not.toContain("/no/such/path");
    for (const agent of [...web, spare]) expect(text).not.toContain(agent.nodeId);

    const heartbeats = told.length;
    expect(heartbeats).toBe(3 + 5 * 2);
    expect(valueOf(text, 'leasehold_http_requests_total{route="/v1/agent/heartbeat",method="POST",status="200"}')).toBe(heartbeats);
    expect(valueOf(text, 'leasehold_heartbeats_total{result="ok"}')).toBe(heartbeats);
    expect(valueOf(text, 'leasehold_heartbeats_total{result="unauthorized"}')).toBe(0);
    expect(valueOf(text, 'leasehold_claims_total{result="ok"}')).toBe(2);
    expect(valueOf(text, "leasehold_lease_grants_total")).toBe(2);
    const renewed = told.reduce((n, r) => n + r.renewed.length, 0);
    expect(renewed).toBe(5 * 2);
    expect(valueOf(text, "leasehold_lease_renewals_total")).toBe(renewed);
    expect(valueOf(text, 'leasehold_lease_revocations_total{reason="stopped"}')).toBe(0);

    const done = valueOf(text, 'leasehold_evaluations_total{result="done"}') ?? 0;
    expect(done).toBeGreaterThanOrEqual(2);
    expect(valueOf(text, 'leasehold_evaluations_total{result="error"}')).toBe(0);
    const evaluations = done + (valueOf(text, 'leasehold_evaluations_total{result="deferred"}') ?? 0);
    expect(valueOf(text, "leasehold_evaluation_duration_seconds_count")).toBe(evaluations);
    expect(valueOf(text, 'leasehold_placement_failures_total{reason="cpu"}')).toBe(2);
    expect(valueOf(text, 'leasehold_placement_failures_total{reason="constraint"}')).toBe(0);

    for (const op of ["execute", "read", "write"]) expect(valueOf(text, `leasehold_store_duration_seconds_count{op="${op}"}`), op).toBeGreaterThan(0);

    expect(valueOf(text, 'leasehold_nodes{state="ready"}')).toBe(2);
    expect(valueOf(text, 'leasehold_nodes{state="down"}')).toBe(1);
    expect(valueOf(text, 'leasehold_nodes{state="initializing"}')).toBe(0);
    expect(valueOf(text, 'leasehold_nodes{state="disconnected"}')).toBe(0);
    expect(valueOf(text, 'leasehold_tasks{state="running"}')).toBe(2);
    expect(valueOf(text, 'leasehold_tasks{state="pending"}')).toBe(2);
    expect(valueOf(text, 'leasehold_tasks{state="lost"}')).toBe(0);
    const deployments = await cp.store.client.execute("SELECT status, count(*) AS n FROM deployments GROUP BY status");
    expect(deployments.rows.length).toBeGreaterThan(0);
    for (const row of deployments.rows) expect(valueOf(text, `leasehold_deployments{state="${String(row["status"])}"}`)).toBe(Number(row["n"]));
    expect(valueOf(text, "leasehold_evaluations_due")).toBe(0);

    expectPromtoolPasses(text);
  });

  it("counts a heartbeat and a claim of a replaced credential as unauthorized, and revocations by reason", async () => {
    const cp = await controlPlane();
    const token = await joinToken(cp);
    // Enrolled and never heard from: the name is taken over by the next enrollment, and the first credential is void.
    const first = new HollowAgent(fetcherOf(cp), "host-1");
    await first.enroll(token);
    const second = new HollowAgent(fetcherOf(cp), "host-1");
    await second.enroll(token);
    await expect(first.heartbeat()).rejects.toMatchObject({ status: 401 } satisfies Partial<ProtocolError>);
    await expect(first.claim()).rejects.toMatchObject({ status: 401 } satisfies Partial<ProtocolError>);

    await second.heartbeat();
    await expectJson(await cp.call("POST", "/v1/jobs", { body: { name: "one", image: "busybox:1", resources: { cpu: 100, memory: 32 } } }));
    await second.claim();
    await expectJson(await cp.call("POST", "/v1/namespaces/default/jobs/one/stop", { body: {} }));
    const stopped = await second.heartbeat();
    expect(stopped.revoked.map((r) => r.reason)).toEqual(["stopped"]);
    await cp.settled();

    const text = await scrape(cp);
    expect(valueOf(text, 'leasehold_heartbeats_total{result="unauthorized"}')).toBe(1);
    expect(valueOf(text, 'leasehold_claims_total{result="unauthorized"}')).toBe(1);
    expect(valueOf(text, 'leasehold_heartbeats_total{result="ok"}')).toBe(2);
    expect(valueOf(text, 'leasehold_claims_total{result="ok"}')).toBe(1);
    expect(valueOf(text, 'leasehold_lease_revocations_total{reason="stopped"}')).toBe(1);
    expect(valueOf(text, 'leasehold_lease_revocations_total{reason="expired"}')).toBe(0);
    expect(valueOf(text, 'leasehold_http_requests_total{route="/v1/agent/heartbeat",method="POST",status="401"}')).toBe(1);
    expectPromtoolPasses(text);
  });

  it("answers the same store gauges from two instances on one database, and each its own counters", async () => {
    const a = await controlPlane();
    const b = await controlPlane({ dir: a.dir, keys: a.keys, clock: a.clock });
    const token = await joinToken(a);
    const agents = [new HollowAgent(fetcherOf(a), "n-1"), new HollowAgent(fetcherOf(a), "n-2")];
    for (const agent of agents) {
      await agent.enroll(token);
      await agent.heartbeat();
    }
    await expectJson(await b.call("POST", "/v1/jobs", { body: { name: "pair", image: "busybox:1", replicas: 3, resources: { cpu: 100, memory: 32 } } }));
    await b.settled();
    // A due evaluation nobody holds: the queue's depth.
    await writeBatch(a.store.client, [requestEvaluations("SELECT 'default/pair' AS job_id", {}, { trigger: "test", now: a.clock.now() })]);

    const [fromA, fromB] = [await scrape(a), await scrape(b, b.adminToken)];
    expect(gaugeLines(fromA).length).toBeGreaterThan(0);
    expect(gaugeLines(fromB)).toEqual(gaugeLines(fromA));
    expect(valueOf(fromA, 'leasehold_nodes{state="ready"}')).toBe(2);
    expect(valueOf(fromA, 'leasehold_tasks{state="placed"}')).toBe(3);
    expect(valueOf(fromA, "leasehold_evaluations_due")).toBe(1);
    // Counters are each instance's: the heartbeats went to a, the apply to b.
    expect(valueOf(fromA, 'leasehold_heartbeats_total{result="ok"}')).toBe(2);
    expect(valueOf(fromB, 'leasehold_heartbeats_total{result="ok"}')).toBe(0);
    expect(valueOf(fromA, 'leasehold_http_requests_total{route="/v1/jobs",method="POST",status="200"}')).toBeUndefined();
    expect(valueOf(fromB, 'leasehold_http_requests_total{route="/v1/jobs",method="POST",status="200"}')).toBe(1);
  });

  it("writes the same families from the Worker's registry, and that text passes promtool too", async () => {
    const cp = await controlPlane({ metrics: createMetricsRegistry() });
    const agent = new HollowAgent(fetcherOf(cp), "plain-1");
    await agent.enroll(await joinToken(cp));
    await agent.heartbeat();
    await expectJson(await cp.call("POST", "/v1/jobs", { body: { name: "plain", image: "busybox:1", replicas: 2, resources: { cpu: 99_999, memory: 32 } } }));
    await expectProblem(await cp.call("GET", "/v1/namespaces/default/jobs/gone"), 404);
    await cp.settled();
    const text = await scrape(cp);
    expect(valueOf(text, 'leasehold_heartbeats_total{result="ok"}')).toBe(1);
    expect(valueOf(text, 'leasehold_placement_failures_total{reason="cpu"}')).toBe(2);
    expect(valueOf(text, 'leasehold_http_requests_total{route="/v1/namespaces/:namespace/jobs/:name",method="GET",status="404"}')).toBe(1);
    expect(valueOf(text, 'leasehold_http_request_duration_seconds_bucket{route="/v1/namespaces/:namespace/jobs/:name",method="GET",le="+Inf"}')).toBe(1);
    expect(valueOf(text, 'leasehold_nodes{state="ready"}')).toBe(1);
    expect(valueOf(text, 'leasehold_tasks{state="pending"}')).toBe(2);
    expect(text).not.toContain("process_");
    expectPromtoolPasses(text);

    // Its families and label sets are the ones prom-client writes (the values differ: other requests).
    const other = await controlPlane({ dir: cp.dir, keys: cp.keys, clock: cp.clock });
    const promText = await scrape(other);
    const families = (t: string) => t.split("\n").filter((l) => l.startsWith("# TYPE ")).sort();
    expect(families(text)).toEqual(families(promText));
  });
});

describe("the Node entry's /metrics", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "leasehold-metrics-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves prom-client's registry with Node's process metrics over HTTP, and passes promtool", async () => {
    const server = await startNodeServer({ dataDir: dir, port: 0, sweep: false, config: parseConfig({ metricsToken: SCRAPE_TOKEN }), log: () => {} });
    try {
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      const refused = await fetch(`${server.url}/metrics`);
      expect(refused.status).toBe(401);
      const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${SCRAPE_TOKEN}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      const text = await res.text();
      expect(valueOf(text, 'leasehold_http_requests_total{route="/healthz",method="GET",status="200"}')).toBe(1);
      expect(valueOf(text, 'leasehold_http_requests_total{route="/metrics",method="GET",status="401"}')).toBe(1);
      expect(valueOf(text, "process_resident_memory_bytes")).toBeGreaterThan(0);
      expect(valueOf(text, 'leasehold_nodes{state="ready"}')).toBe(0);
      expectPromtoolPasses(text);
    } finally {
      await server.close();
    }
  });
});
