// A real agent on the real engine stops a container as soon as its job is stopped: the stop order comes
// in the reply to the claim the agent holds open, not with its next heartbeat. Heartbeats here are 10 s
// apart and the stop is sent just after one, so an agent waiting for the next would take about 9 s.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAgent } from "../../agent/run";
import { TestCluster } from "../support/cluster";
import { cleanupNode, eventually, requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";

const cluster = new TestCluster();
const dirs: string[] = [];
const names: string[] = [];

beforeAll(async () => {
  await requireDocker();
  await cluster.start({ heartbeatInterval: "10s", leaseTtl: "30s", sweepInterval: "500ms" });
}, 60_000);
afterAll(async () => {
  await cluster.stop();
  for (const name of names) await cleanupNode(name);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("a stop order carried by a claim", () => {
  it("stops the container well before the next heartbeat", async () => {
    const name = uniqueNode("claim-stop");
    names.push(name);
    const dataDir = mkdtempSync(join(tmpdir(), "leasehold-agent-"));
    dirs.push(dataDir);
    const agent = await runAgent({ server: cluster.url, joinToken: await cluster.joinToken(), name, labels: {}, dataDir, log: () => {} });
    try {
      await cluster.api("POST", "/v1/jobs", {
        name: "sleeper",
        image: TEST_IMAGE,
        // Exits on SIGTERM at once: the time measured is the order's, not the stop grace.
        command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"],
        resources: { cpu: 50, memory: 16 },
      });
      const containerId = await eventually(() => agent.supervisor.held().find((t) => t.phase === "running" && t.containerId)?.containerId ?? undefined, 30_000, "the task to run");
      await eventually(async () => ((await cluster.job("sleeper")).tasks.some((t) => t.state === "running") ? true : undefined), 30_000, "the task to be reported running");

      // Just after a heartbeat: the next is about 10 s away.
      const beatAt = async () => (await cluster.api<{ node: { lastHeartbeatAt: number | null } }>("GET", `/v1/nodes/${name}`)).node.lastHeartbeatAt;
      const last = await beatAt();
      await eventually(async () => ((await beatAt()) !== last ? true : undefined), 15_000, "a heartbeat");

      const stoppedAt = performance.now();
      await cluster.api("POST", "/v1/namespaces/default/jobs/sleeper/stop");
      await eventually(async () => ((await cluster.docker.getContainer(containerId).inspect()).State.Running ? undefined : true), 8_000, "the container to stop");
      expect(performance.now() - stoppedAt).toBeLessThan(3_000);
    } finally {
      await agent.stop();
    }
  }, 90_000);
});
