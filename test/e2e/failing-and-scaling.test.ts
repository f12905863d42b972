// End to end on a real Docker engine: an image that cannot be pulled is retried under the restart policy on
// the agent and the reschedule backoff on the control plane, then given up on where the operator looks;
// a job scaled 3 → 10 → 3 keeps the containers of its surviving slots.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../../cli/exit-codes";
import { TestCluster } from "../support/cluster";
import { eventually, requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";

beforeAll(async () => {
  await requireDocker();
});

describe("on one agent", () => {
  const cluster = new TestCluster();
  const node = uniqueNode("e2e-fail");

  beforeAll(async () => {
    await cluster.start();
    await cluster.spawnAgent(node);
  }, 60_000);
  afterAll(() => cluster.stop(), 60_000);

  it("an image that cannot be pulled is retried with backoff, then its slot fails for good; apply --wait stops with its error and exit 3", async () => {
    const file = join(cluster.dir, "broken.yaml");
    writeFileSync(
      file,
      [
        "name: broken",
        // Nothing listens on port 1: every pull is refused at once.
        "image: 127.0.0.1:1/nothing:latest",
        "resources: { cpu: 100, memory: 32 }",
        "restart: { mode: always, attempts: 1, interval: 1m, delay: 200ms }",
        "reschedule: { attempts: 2, delay: 1s }",
      ].join("\n"),
    );
    const started = Date.now();
    const applied = await cluster.cli("apply", file, "--wait", "--timeout", "90s");
    const seconds = (Date.now() - started) / 1000;
    expect(applied.code, applied.stderr).toBe(EXIT.failed);
    expect(seconds).toBeLessThan(60);
    expect(applied.stderr).toMatch(/pull/i);

    // apply --wait ends with the version's deployment, which fails at the first failed copy; the slot's
    // replacements go on under the reschedule policy: the first copy and two more, three epochs, not one
    // per report.
    const tasks = await eventually(
      async () => {
        const { tasks: rows } = await cluster.job("broken");
        return rows.length === 1 && rows[0]?.final ? rows : undefined;
      },
      60_000,
      "the slot's reschedule attempts to be spent",
      250,
    );
    expect(tasks[0]).toMatchObject({ state: "failed", epoch: 3, final: true });
    expect(tasks[0]?.message).toMatch(/^reschedule attempts spent: slot 0 was replaced 2 times within 1h \(last failed\); last error: .*pull/i);

    const status = await cluster.cli("status", "broken");
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain("MESSAGE");
    expect(status.stdout).toContain("reschedule attempts spent");

    // Nothing more happens to it.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await cluster.job("broken")).tasks[0]).toMatchObject({ epoch: 3, state: "failed" });
    expect(await cluster.containers(node, true)).toEqual([]);
  }, 120_000);

  it("a job scaled 3 → 10 → 3 keeps its version and the containers of slots 0–2", async () => {
    const spec = (replicas: number) =>
      [`name: web`, `replicas: ${replicas}`, `image: ${TEST_IMAGE}`, 'command: ["httpd", "-f", "-p", "8080", "-h", "/www"]', "resources: { cpu: 50, memory: 16 }", "stopGrace: 500ms"].join(
        "\n",
      );
    const file = join(cluster.dir, "web.yaml");
    const slotsOf = async () => {
      const containers = (await cluster.containers(node)).filter((c) => c.Labels["io.leasehold.job"] === "default/web");
      return new Map(containers.map((c) => [Number(c.Labels["io.leasehold.slot"]), c.Id]));
    };

    writeFileSync(file, spec(3));
    expect((await cluster.cli("apply", file, "--wait", "--timeout", "60s")).code).toBe(0);
    const first = await slotsOf();
    expect([...first.keys()].sort()).toEqual([0, 1, 2]);

    writeFileSync(file, spec(10));
    const up = await cluster.cli("apply", file, "--wait", "--timeout", "60s");
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain("scaled from 3 to 10: version 1");
    const ten = await slotsOf();
    expect(ten.size).toBe(10);
    for (const slot of [0, 1, 2]) expect(ten.get(slot)).toBe(first.get(slot));

    writeFileSync(file, spec(3));
    const down = await cluster.cli("apply", file, "--wait", "--timeout", "60s");
    expect(down.code, down.stderr).toBe(0);
    const three = await cluster.waitFor("slots 3–9 to stop", async () => {
      const now = await slotsOf();
      return now.size === 3 ? now : undefined;
    });
    expect(three).toEqual(first);
    const { job, tasks } = await cluster.job("web");
    expect(job.version).toBe(1);
    expect(tasks.filter((t) => t.desired === "run" && t.state === "running").map((t) => t.epoch)).toEqual([1, 1, 1]);
  }, 150_000);
});
