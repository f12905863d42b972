// runAgent in-process against a real control plane: what it logs when the control plane goes away and
// comes back, the region it takes from a join token bound to one, and how a health restart is reported.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAgent, type RunningAgent } from "../../agent/run";
import { TestCluster } from "../support/cluster";
import { cleanupNode, eventually, requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";

type Line = { message: string; level: unknown };

const cluster = new TestCluster();
const dirs: string[] = [];
const names: string[] = [];

function agentDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-agent-"));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  await requireDocker();
  await cluster.start();
}, 60_000);
afterAll(async () => {
  await cluster.stop();
  for (const name of names) await cleanupNode(name);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}, 60_000);

// The region test runs first: a restarted control plane has no bootstrap admin token to create join tokens with.
describe("the agent's region", () => {
  it("takes the region of a join token bound to one when it names none, and is refused for another", async () => {
    const { token } = await cluster.api<{ token: string }>("POST", "/v1/join-tokens", { region: "eu-west" });
    const name = uniqueNode("region");
    names.push(name);
    const agent = await runAgent({ server: cluster.url, joinToken: token, name, labels: {}, dataDir: agentDir(), log: () => {} });
    try {
      expect(agent.region).toBe("eu-west");
      const { node } = await cluster.api<{ node: { region: string } }>("GET", `/v1/nodes/${name}`);
      expect(node.region).toBe("eu-west");
    } finally {
      await agent.stop();
    }
    const other = await cluster.api<{ token: string }>("POST", "/v1/join-tokens", { region: "eu-west" });
    await expect(runAgent({ server: cluster.url, joinToken: other.token, name: uniqueNode("region"), region: "us-east", labels: {}, dataDir: agentDir(), log: () => {} })).rejects.toThrow(/bound to region "eu-west", not "us-east"/);
  }, 60_000);
});

// Before the log test too: applying a job takes the bootstrap admin token.
describe("a task restarted for failing its health check", () => {
  it("is counted and explained in the control plane's task row, its events and `leasehold status`", async () => {
    const name = uniqueNode("health");
    names.push(name);
    const agent = await runAgent({ server: cluster.url, joinToken: await cluster.joinToken(), name, labels: {}, dataDir: agentDir(), log: () => {} });
    try {
      await cluster.api("POST", "/v1/jobs", {
        name: "unhealthy",
        image: TEST_IMAGE,
        command: ["httpd", "-f", "-p", "8080", "-h", "/www"],
        resources: { cpu: 50, memory: 16 },
        ports: [{ name: "http", container: 8080 }],
        constraints: [{ attribute: "name", value: name }],
        // httpd serves /www: this path is a 404 on every probe.
        health: { type: "http", port: "http", path: "/no-such-page", interval: "200ms", timeout: "1s", failures: 2 },
        restart: { mode: "always", attempts: 5, interval: "1m", delay: "200ms" },
        stopGrace: "500ms",
      });
      const task = await cluster.waitFor("the restart to be reported", async () => {
        const [t] = (await cluster.job("unhealthy")).tasks;
        return t && t.restarts >= 1 && t.state === "running" && t.message?.startsWith("restarted:") ? t : undefined;
      });
      expect(task.message).toMatch(/^restarted: health check failed 2 times: HTTP 404 from 127\.0\.0\.1:\d+\/no-such-page$/);
      const { events } = await cluster.api<{ events: { type: string }[] }>("GET", "/v1/namespaces/default/jobs/unhealthy/events");
      expect(events.map((e) => e.type)).toContain("task.restarted");
      const status = await cluster.cli("status", "unhealthy");
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toMatch(/RESTARTS/);
      expect(status.stdout).toMatch(/restarted: health check failed 2 times: HTTP 404/);
    } finally {
      await agent.stop();
    }
  }, 60_000);
});

describe("the agent's log", () => {
  it("says once that the control plane is unreachable, at warn, and once that it is back; repeated failures are debug", async () => {
    const lines: Line[] = [];
    const name = uniqueNode("log");
    names.push(name);
    const agent: RunningAgent = await runAgent({
      server: cluster.url,
      joinToken: await cluster.joinToken(),
      name,
      labels: {},
      dataDir: agentDir(),
      logLevel: "debug",
      log: (message, fields) => lines.push({ message, level: fields?.["level"] }),
    });
    try {
      await cluster.server.close();
      // Heartbeats every second and a long-poll claim: several failed requests while it is down.
      await eventually(() => (lines.filter((l) => l.level === "debug" && l.message === "control plane still unreachable").length >= 2 ? true : undefined), 15_000, "repeated failures");
      await cluster.restartControlPlane();
      await eventually(() => (lines.some((l) => l.message.startsWith("reconnected after")) ? true : undefined), 15_000, "the reconnection to be logged");
      await new Promise((r) => setTimeout(r, 1_500));
    } finally {
      await agent.stop();
    }
    const lost = lines.filter((l) => l.message.startsWith("control plane unreachable since "));
    expect(lost.map((l) => l.level)).toEqual(["warn"]);
    expect(lost[0]?.message).toMatch(/since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    expect(lines.filter((l) => l.message.startsWith("reconnected after ")).map((l) => l.level)).toEqual(["info"]);
    // Nothing about a failure is logged at info.
    expect(lines.filter((l) => l.level === "info" && /fail|unreachable/.test(l.message))).toEqual([]);
  }, 60_000);
});
