// An agent in-process against a real control plane and engine, serving /metrics: its containers, restarts,
// health failures, pull failures, heartbeat figures and task usage, checked by `promtool check metrics`;
// a gone task's series go with it; a metrics port already taken leaves the agent running without metrics.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAgent } from "../../agent/run";
import { TestCluster } from "../support/cluster";
import { cleanupNode, eventually, requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";

const cluster = new TestCluster();
const dirs: string[] = [];
const names: string[] = [];

function agentDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-agent-"));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  // promtool comes from Debian's prometheus package; the script installs it, or says why it cannot.
  try {
    execFileSync("bash", ["scripts/ensure-promtool.sh"], { stdio: ["ignore", "ignore", "pipe"], timeout: 240_000 });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`promtool is needed to check the agent's metrics and could not be made available: ${stderr || (err as Error).message}`, { cause: err });
  }
  await requireDocker();
  await cluster.start();
}, 300_000);
afterAll(async () => {
  await cluster.stop();
  for (const name of names) await cleanupNode(name);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** The value of the first sample line that starts with `series` (name and labels), or undefined. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("the agent's /metrics", () => {
  it("shows its containers, restarts, health and pull failures, heartbeats and task usage, and passes promtool", async () => {
    const name = uniqueNode("metrics");
    names.push(name);
    const agent = await runAgent({ server: cluster.url, joinToken: await cluster.joinToken(), name, labels: {}, dataDir: agentDir(), log: () => {}, metricsAddr: "127.0.0.1:0", statsIntervalMs: 500 });
    try {
      expect(agent.metricsPort).toBeGreaterThan(0);
      const scrape = async () => {
        const res = await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`);
        expect(res.status).toBe(200);
        return res.text();
      };
      const constraints = [{ attribute: "name", value: name }];
      await cluster.api("POST", "/v1/jobs", { name: "metered", image: TEST_IMAGE, command: ["httpd", "-f", "-p", "8080", "-h", "/www"], resources: { cpu: 50, memory: 16 }, constraints, stopGrace: "500ms" });
      await cluster.api("POST", "/v1/jobs", {
        name: "unhealthy",
        image: TEST_IMAGE,
        command: ["httpd", "-f", "-p", "8080", "-h", "/www"],
        resources: { cpu: 50, memory: 16 },
        ports: [{ name: "http", container: 8080 }],
        constraints,
        // httpd serves /www: this path is a 404 on every probe.
        health: { type: "http", port: "http", path: "/no-such-page", interval: "200ms", timeout: "1s", failures: 2 },
        restart: { mode: "always", attempts: 5, interval: "1m", delay: "200ms" },
        stopGrace: "500ms",
      });
      // Not in the engine and no registry to pull it from (or none that has it): the pull fails.
      await cluster.api("POST", "/v1/jobs", { name: "unpullable", image: "leasehold-test/no-such-image:never", resources: { cpu: 50, memory: 16 }, constraints, restart: { mode: "never" } });

      const text = await eventually(async () => {
        const t = await scrape();
        const ready =
          (valueOf(t, 'leasehold_agent_containers{state="running"}') ?? 0) >= 2 &&
          (valueOf(t, "leasehold_agent_task_restarts_total") ?? 0) >= 1 &&
          (valueOf(t, "leasehold_agent_health_check_failures_total") ?? 0) >= 1 &&
          (valueOf(t, "leasehold_agent_image_pull_failures_total") ?? 0) >= 1 &&
          t.includes('leasehold_agent_task_memory_bytes{namespace="default",job="metered",slot="0",task_id="');
        return ready ? t : undefined;
      }, 45_000, "the jobs' figures in /metrics");

      expect(valueOf(text, "leasehold_agent_control_plane_reachable")).toBe(1);
      expect(valueOf(text, "leasehold_agent_heartbeat_seconds_count")).toBeGreaterThanOrEqual(1);
      const lastContact = valueOf(text, "leasehold_agent_control_plane_last_contact_timestamp_seconds")!;
      expect(Math.abs(Date.now() / 1000 - lastContact)).toBeLessThan(30);
      const [metered] = (await cluster.job("metered")).tasks;
      const series = `{namespace="default",job="metered",slot="0",task_id="${metered!.id}"}`;
      expect(valueOf(text, `leasehold_agent_task_memory_bytes${series}`)).toBeGreaterThan(0);
      expect(valueOf(text, `leasehold_agent_task_cpu_seconds_total${series}`)).toBeGreaterThanOrEqual(0);
      expect(valueOf(text, "process_resident_memory_bytes")).toBeGreaterThan(0);

      const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
      expect(check.error).toBeUndefined();
      expect(check.status, `promtool check metrics: ${check.stdout}${check.stderr}`).toBe(0);

      // Stopped, reported and forgotten: its series go at the next scrape.
      await cluster.api("POST", "/v1/namespaces/default/jobs/metered/stop", {});
      await eventually(async () => ((await scrape()).includes(`task_id="${metered!.id}"`) ? undefined : true), 30_000, "the stopped task's series to go");
    } finally {
      await agent.stop();
    }
  }, 90_000);

  it("is logged as an error and left out when its port is taken; the agent runs on", async () => {
    const taken: Server = createServer();
    await new Promise<void>((done) => taken.listen(0, "127.0.0.1", done));
    const port = (taken.address() as { port: number }).port;
    const name = uniqueNode("metrics-clash");
    names.push(name);
    const errors: string[] = [];
    try {
      const agent = await runAgent({
        server: cluster.url,
        joinToken: await cluster.joinToken(),
        name,
        labels: {},
        dataDir: agentDir(),
        log: (message, fields) => void (fields?.["level"] === "error" && errors.push(message)),
        metricsAddr: `127.0.0.1:${port}`,
      });
      try {
        expect(agent.metricsPort).toBeNull();
        expect(errors).toContain("cannot open the metrics port: running on without metrics");
        await cluster.waitFor("the node to be ready", async () => {
          const { node } = await cluster.api<{ node: { state: string } }>("GET", `/v1/nodes/${name}`);
          return node.state === "ready" ? true : undefined;
        });
      } finally {
        await agent.stop();
      }
    } finally {
      await new Promise<void>((done) => taken.close(() => done()));
    }
  }, 60_000);
});
