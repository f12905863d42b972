// runAgent in-process against a real control plane: what it logs when the control plane goes away and
// comes back, and the region it takes from a join token bound to one.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAgent, type RunningAgent } from "../../agent/run";
import { TestCluster } from "../support/cluster";
import { cleanupNode, eventually, requireDocker, uniqueNode } from "../support/docker";

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
