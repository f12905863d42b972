// End to end on a real Docker engine: a real control plane, `leasehold agent` processes, and the CLI.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, type TaskInfo } from "../support/cluster";
import { requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";

const TTL_MS = 3_000;
const running = (tasks: TaskInfo[]) => tasks.filter((t) => t.desired === "run" && t.state === "running");

beforeAll(async () => {
  await requireDocker();
});

describe("a service on one agent", () => {
  const cluster = new TestCluster();
  const node = uniqueNode("e2e-a");
  let agent: Awaited<ReturnType<TestCluster["spawnAgent"]>>;

  beforeAll(async () => {
    await cluster.start();
    agent = await cluster.spawnAgent(node, { args: ["--stats-interval", "1s"] });
  }, 60_000);
  afterAll(() => cluster.stop(), 60_000);

  it("applied with the CLI, 3 httpd replicas reach running and healthy; docker shows them labelled; logs come back through the queue", async () => {
    const file = join(cluster.dir, "web.yaml");
    writeFileSync(
      file,
      [
        "name: web",
        "replicas: 3",
        `image: ${TEST_IMAGE}`,
        'command: ["sh", "-c", "echo hello from slot $LEASEHOLD_SLOT; exec httpd -f -p 8080 -h /www"]',
        "resources: { cpu: 100, memory: 32 }",
        "ports: [{ name: http, container: 8080 }]",
        "health: { type: http, port: http, interval: 500ms, timeout: 500ms, failures: 2 }",
        "restart: { mode: always, attempts: 5, interval: 1m, delay: 200ms }",
        "stopGrace: 500ms",
      ].join("\n"),
    );
    const applied = await cluster.cli("apply", file, "--wait", "--timeout", "60s");
    expect(applied.code, applied.stderr).toBe(0);
    // --wait follows the version's deployment: done once every slot has run healthy for minHealthy.
    expect(applied.stdout).toContain("ready: every slot runs version 1 healthy");

    const containers = await cluster.containers(node);
    expect(containers).toHaveLength(3);
    const { tasks } = await cluster.job("web");
    expect(new Set(containers.map((c) => c.Labels["io.leasehold.task"]))).toEqual(new Set(tasks.map((t) => t.id)));
    for (const c of containers) {
      expect(c.Labels).toMatchObject({ "io.leasehold.job": "default/web", "io.leasehold.epoch": "1", "io.leasehold.node": node });
    }
    // The dynamic host port the agent reported really serves the page.
    const ports = (await cluster.api<{ tasks: { boundPorts: { host: number }[] }[] }>("GET", "/v1/namespaces/default/jobs/web")).tasks.map((t) => t.boundPorts[0]?.host);
    const page = await (await fetch(`http://127.0.0.1:${ports[0]}/`)).text();
    expect(page).toContain("leasehold test page");

    const logs = await cluster.cli("logs", "web", "--tail", "20", "--timeout", "20s");
    expect(logs.code, logs.stderr).toBe(0);
    for (const slot of [0, 1, 2]) expect(logs.stdout).toContain(`hello from slot ${slot}`);
  }, 90_000);

  it("reports each task's cpu and memory through heartbeats: status shows them, top lists them", async () => {
    const limit = 32 * 1024 * 1024;
    const deadline = Date.now() + 30_000;
    let tasks = running((await cluster.job("web")).tasks);
    while (Date.now() < deadline && !(tasks.length === 3 && tasks.every((t) => (t.stats?.memoryBytes ?? 0) > 0))) {
      await new Promise((r) => setTimeout(r, 500));
      tasks = running((await cluster.job("web")).tasks);
    }
    expect(tasks.map((t) => t.stats?.memoryLimitBytes)).toEqual([limit, limit, limit]);
    for (const t of tasks) {
      expect(t.stats!.memoryBytes).toBeGreaterThan(0);
      expect(t.stats!.memoryBytes).toBeLessThan(limit);
      expect(t.stats!.cpuPercent).toBeGreaterThanOrEqual(0);
    }
    const status = await cluster.cli("status", "web");
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/CPU\s+MEMORY/);
    expect(status.stdout.match(/\d(B|KiB|MiB) \/ 32\.0MiB/g)).toHaveLength(3);
    const top = await cluster.cli("top", "web", "--once");
    expect(top.code, top.stderr).toBe(0);
    const lines = top.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^JOB\s+TASK\s+SLOT\s+NODE\s+CPU\s+MEMORY\s+MEM%\s+SAMPLED$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[3])).toEqual([node, node, node]);
  }, 60_000);

  it("restarts a container killed with docker kill, and reports the restart", async () => {
    const [victim] = await cluster.containers(node);
    const taskId = victim!.Labels["io.leasehold.task"]!;
    await cluster.docker.getContainer(victim!.Id).kill();
    const restarted = await cluster.waitFor("the restart to be reported", async () => {
      const t = (await cluster.job("web")).tasks.find((x) => x.id === taskId);
      return t && t.restarts >= 1 && t.state === "running" ? t : undefined;
    });
    expect(restarted.epoch).toBe(1);
    expect(await cluster.containers(node)).toHaveLength(3);
    const { events } = await cluster.api<{ events: { type: string; taskId: string | null }[] }>("GET", "/v1/namespaces/default/jobs/web/events");
    expect(events.some((e) => e.type === "task.restarted" && e.taskId === taskId)).toBe(true);
  }, 60_000);

  it("after a SIGKILL and restart, the agent re-attaches to its containers without starting duplicates", async () => {
    const before = (await cluster.containers(node)).map((c) => c.Id).sort();
    await agent.kill("SIGKILL");
    // Restarted quickly (within the lease TTL) from its data directory alone: no join token.
    agent = await cluster.spawnAgent(node, { dataDir: agent.dataDir, joinToken: null });
    // Started (a loaded machine takes seconds to), then given a few heartbeats to start anything it would.
    const restarted = agent;
    await cluster.waitFor("the restarted agent to re-attach", async () => (restarted.output.join("").includes("re-attached to running tasks") ? true : undefined));
    await new Promise((r) => setTimeout(r, 3 * 1_000));
    const after = (await cluster.containers(node)).map((c) => c.Id).sort();
    expect(after).toEqual(before);
    const { tasks } = await cluster.job("web");
    expect(tasks.map((t) => [t.state, t.epoch])).toEqual([
      ["running", 1],
      ["running", 1],
      ["running", 1],
    ]);
    expect(agent.output.join("")).toContain("re-attached to running tasks");
  }, 60_000);

  it("runs a batch job to completion with exit code 0", async () => {
    await cluster.api("POST", "/v1/jobs", { name: "once", type: "batch", image: TEST_IMAGE, command: ["sh", "-c", "echo batch done; exit 0"], resources: { cpu: 50, memory: 16 } });
    const done = await cluster.waitFor("the batch task to complete", async () => {
      const t = (await cluster.job("once")).tasks[0];
      return t?.state === "complete" ? t : undefined;
    });
    expect(done.exitCode).toBe(0);
    expect(done.restarts).toBe(0);
  }, 60_000);

  it("a failing batch task reports its exit code and follows its restart and reschedule policies", async () => {
    await cluster.api("POST", "/v1/jobs", {
      name: "fails",
      type: "batch",
      image: TEST_IMAGE,
      command: ["sh", "-c", "echo failing; exit 3"],
      resources: { cpu: 50, memory: 16 },
      restart: { mode: "on-failure", attempts: 2, interval: "1m", delay: "100ms" },
      reschedule: { attempts: 1, delay: "0s" },
    });
    const failed = await cluster.waitFor("the task to be given up", async () => {
      const t = (await cluster.job("fails")).tasks[0];
      return t?.state === "failed" && t.epoch === 2 ? t : undefined;
    }, 60_000);
    const history = () => cluster.api("GET", "/v1/namespaces/default/jobs/fails/events").then((r) => JSON.stringify(r));
    expect(failed.exitCode, failed.exitCode === 3 ? "" : await history()).toBe(3);
    expect(failed.restarts).toBe(2);
    // Given up after one replacement: it stays failed.
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await cluster.job("fails")).tasks[0]).toMatchObject({ state: "failed", epoch: 2 });
  }, 90_000);

  it("fails a task whose image cannot be pulled, with the reason, without hanging", async () => {
    await cluster.api("POST", "/v1/jobs", { name: "noimage", image: "leasehold-test/missing:never", resources: { cpu: 50, memory: 16 }, reschedule: { attempts: 1, delay: "0s" } });
    const failed = await cluster.waitFor("the pull failure", async () => {
      const r = await cluster.api<{ tasks: (TaskInfo & { message: string | null })[] }>("GET", "/v1/namespaces/default/jobs/noimage");
      const t = r.tasks[0];
      return t?.state === "failed" && t.message ? t : undefined;
    }, 60_000);
    expect(failed.message).toMatch(/leasehold-test\/missing:never/);
  }, 90_000);
});

describe("two agents on one engine", () => {
  const cluster = new TestCluster();
  const a = uniqueNode("e2e-b1");
  const b = uniqueNode("e2e-b2");

  beforeAll(async () => {
    await cluster.start();
  }, 60_000);
  afterAll(() => cluster.stop(), 60_000);

  it("replaces a SIGKILLed agent's tasks on the other within about the lease TTL; the returning agent stops its stale containers", async () => {
    const first = await cluster.spawnAgent(a);
    await cluster.spawnAgent(b);
    await cluster.api("POST", "/v1/jobs", { name: "pair", replicas: 4, image: TEST_IMAGE, command: ["httpd", "-f", "-p", "8080", "-h", "/www"], resources: { cpu: 100, memory: 16 }, stopGrace: "500ms" });
    await cluster.waitFor("4 running", async () => (running((await cluster.job("pair")).tasks).length === 4 ? true : undefined));
    const aId = await cluster.nodeId(a);
    const onA = (await cluster.job("pair")).tasks.filter((t) => t.nodeId === aId).map((t) => t.id);
    expect(onA.length).toBeGreaterThan(0);
    // Each agent only sees its own containers on the shared engine.
    expect((await cluster.containers(a)).map((c) => c.Labels["io.leasehold.task"]).sort()).toEqual([...onA].sort());

    await first.kill("SIGKILL");
    const killedAt = Date.now();
    const bId = await cluster.nodeId(b);
    await cluster.waitFor("a's tasks running on b at a higher epoch", async () => {
      const tasks = (await cluster.job("pair")).tasks.filter((t) => onA.includes(t.id));
      return tasks.every((t) => t.nodeId === bId && t.state === "running" && t.epoch === 2) ? true : undefined;
    }, 30_000);
    const failover = Date.now() - killedAt;
    console.log(`failover after SIGKILL: ${failover} ms (lease TTL ${TTL_MS} ms)`);
    expect(failover).toBeLessThan(4 * TTL_MS);
    // The killed agent's containers kept running: nothing stopped them yet.
    expect((await cluster.containers(a)).length).toBe(onA.length);

    await cluster.spawnAgent(a, { dataDir: first.dataDir, joinToken: null });
    await cluster.waitFor("a's stale containers stopped", async () => ((await cluster.containers(a)).length === 0 ? true : undefined), 30_000);
    expect(running((await cluster.job("pair")).tasks)).toHaveLength(4);
  }, 120_000);
});

describe("an agent cut off from the control plane", () => {
  const cluster = new TestCluster();
  const node = uniqueNode("e2e-c");

  beforeAll(async () => {
    await cluster.start();
    await cluster.spawnAgent(node);
  }, 60_000);
  afterAll(() => cluster.stop(), 60_000);

  it("stops `stop` tasks after their bound and keeps `keep` tasks running", async () => {
    // httpd as PID 1 ignores SIGTERM: a short grace keeps the kill that follows quick.
    const base = { image: TEST_IMAGE, command: ["httpd", "-f", "-p", "8080", "-h", "/www"], resources: { cpu: 50, memory: 16 }, stopGrace: "500ms" };
    await cluster.api("POST", "/v1/jobs", { ...base, name: "fenced", disconnect: { policy: "stop", after: "2s" } });
    await cluster.api("POST", "/v1/jobs", { ...base, name: "kept", disconnect: { policy: "keep" } });
    await cluster.waitFor("both running", async () => ((await cluster.containers(node)).length === 2 ? true : undefined));
    await cluster.server.close();
    const cutAt = Date.now();
    const left = await cluster.waitFor("the fenced task to stop", async () => {
      const c = await cluster.containers(node);
      return c.length === 1 ? c : undefined;
    }, 20_000);
    console.log(`self-fenced after ${Date.now() - cutAt} ms (bound 2000 ms)`);
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(2_000);
    expect(left[0]!.Labels["io.leasehold.job"]).toBe("default/kept");
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await cluster.containers(node)).map((c) => c.Labels["io.leasehold.job"])).toEqual(["default/kept"]);
  }, 60_000);
});

describe("an agent restarted after its lease grant was re-signed", () => {
  const cluster = new TestCluster();
  const node = uniqueNode("e2e-d");

  beforeAll(async () => {
    // A one-minute grant is re-signed in its last third: about 40 s after the claim.
    await cluster.start({ heartbeatInterval: "1s", leaseTtl: "3s", sweepInterval: "500ms", leaseGrantTtl: "1m" });
  }, 60_000);
  afterAll(() => cluster.stop(), 60_000);

  it("re-attaches with the newest lease from its data directory, not the one in the container label", async () => {
    let agent = await cluster.spawnAgent(node);
    await cluster.api("POST", "/v1/jobs", { name: "long", image: TEST_IMAGE, command: ["httpd", "-f", "-p", "8080", "-h", "/www"], resources: { cpu: 50, memory: 16 }, stopGrace: "500ms" });
    const [container] = await cluster.waitFor("the container", async () => {
      const c = await cluster.containers(node);
      return c.length === 1 ? c : undefined;
    });
    const labelled = (JSON.parse(container!.Labels["io.leasehold.spec"]!) as { lease: string }).lease;
    const leasesFile = join(agent.dataDir, "leases.json");
    await cluster.waitFor("a re-signed lease", async () => {
      const stored = Object.values(JSON.parse(readFileSync(leasesFile, "utf8")) as Record<string, { lease: string }>).map((l) => l.lease);
      return stored.length === 1 && stored[0] !== labelled ? true : undefined;
    }, 60_000);
    // Past the label's grant: only the stored lease still verifies.
    await new Promise((r) => setTimeout(r, 21_000));
    await agent.kill("SIGKILL");
    agent = await cluster.spawnAgent(node, { dataDir: agent.dataDir, joinToken: null });
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await cluster.containers(node)).map((c) => c.Id)).toEqual([container!.Id]);
    expect((await cluster.job("long")).tasks.map((t) => [t.state, t.epoch])).toEqual([["running", 1]]);
    expect(agent.output.join("")).not.toContain("without a valid lease");
  }, 120_000);
});
