// End to end on a real Docker engine: `leasehold logs -f` (the CLI as its own process) receives the lines a
// real container prints after the follow started, through a real agent process that only dials out;
// interrupting the CLI closes the follow and the agent stops following. `leasehold exec` runs a command in
// the container and exits with its exit code.
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, type AgentProcess } from "../support/cluster";
import { requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";

const TICKER = "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.2; done";

beforeAll(async () => {
  await requireDocker();
});

describe("logs -f and exec through a real agent", () => {
  const cluster = new TestCluster();
  const node = uniqueNode("e2e-follow");
  let agent: AgentProcess;
  let cli: ChildProcess | undefined;

  beforeAll(async () => {
    await cluster.start();
    agent = await cluster.spawnAgent(node);
    await cluster.api("POST", "/v1/jobs", { name: "ticker", image: TEST_IMAGE, command: ["sh", "-c", TICKER], resources: { cpu: 50, memory: 16 } });
    await cluster.waitFor("the ticker to run", async () => ((await cluster.job("ticker")).tasks.some((t) => t.state === "running") ? true : undefined), 60_000);
  }, 120_000);
  afterAll(async () => {
    if (cli && cli.exitCode === null && cli.signalCode === null) cli.kill("SIGKILL");
    await cluster.stop();
  }, 60_000);

  /** The highest line number the container has printed by now, as a log tail shows it. */
  async function lastLine(): Promise<number> {
    const tail = await cluster.cli("logs", "ticker", "--tail", "1", "--timeout", "30s");
    expect(tail.code, tail.stderr).toBe(0);
    return Number(/line (\d+)/.exec(tail.stdout)?.[1] ?? 0);
  }

  /** `leasehold logs -f ticker …` as its own process. */
  function follow(...args: string[]) {
    const proc = spawn(process.execPath, ["cli/bin.js", "logs", "-f", "ticker", ...args], {
      env: { ...process.env, LEASEHOLD_ADDR: cluster.url, LEASEHOLD_TOKEN: cluster.token },
      stdio: ["ignore", "pipe", "pipe"],
    });
    cli = proc;
    const out = { stdout: "", stderr: "" };
    proc.stdout?.on("data", (d: Buffer) => (out.stdout += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (out.stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    return { proc, out, exited, context: () => `stdout: ${out.stdout.slice(-2000)}\nstderr: ${out.stderr}` };
  }

  it("follows new lines until interrupted; the follow then closes and the agent stops following", async () => {
    const before = await lastLine();
    expect(before).toBeGreaterThan(0);
    const { proc, out, exited, context } = follow("--tail", "0");
    const numbers = () => [...out.stdout.matchAll(/^line (\d+)$/gm)].map((m) => Number(m[1]));
    await cluster.waitFor("five followed lines", async () => (numbers().length >= 5 ? true : undefined), 60_000, context);
    const seen = numbers();
    // Printed after the follow started (--tail 0 asks for no earlier ones), in order, none twice.
    expect(seen[0]!).toBeGreaterThan(before);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(new Set(seen).size).toBe(seen.length);
    expect(out.stdout.split("\n").filter(Boolean).every((l) => /^line \d+$/.test(l))).toBe(true);

    const store = cluster.server.controlPlane.deps.store.client;
    const follows = async () => (await store.execute("SELECT status FROM agent_requests WHERE kind = 'follow'")).rows.map((r) => String(r["status"]));
    expect(await follows()).toEqual(["sent"]);

    proc.kill("SIGINT");
    expect(await exited).toBe(0);
    await cluster.waitFor("the follow to close", async () => ((await follows()).every((s) => s === "closed") ? true : undefined), 30_000);
    await cluster.waitFor("the agent to stop following", async () => (agent.output.join("").includes("stopped following task logs") ? true : undefined), 30_000, () => agent.output.join("").slice(-3000));
  }, 120_000);

  it("follows the task's next container when the agent restarts it", async () => {
    const { proc, out, exited, context } = follow("--tail", "1");
    await cluster.waitFor("a followed line", async () => (/^line \d+$/m.test(out.stdout) ? true : undefined), 60_000, context);
    const [victim] = await cluster.containers(node);
    await cluster.docker.getContainer(victim!.Id).kill();
    // The restarted container counts from 1 again: its first lines arrive through the same follow.
    await cluster.waitFor("the restarted container's lines", async () => (out.stderr.includes("the task's container restarted") && /\nline 2\n/.test(out.stdout) ? true : undefined), 60_000, context);
    proc.kill("SIGINT");
    expect(await exited).toBe(0);
  }, 120_000);

  it("goes on after the agent restarts: the new agent process takes the open follow up", async () => {
    const { proc, out, exited, context } = follow("--tail", "1");
    const numbers = () => [...out.stdout.matchAll(/^line (\d+)$/gm)].map((m) => Number(m[1]));
    await cluster.waitFor("a followed line", async () => (numbers().length > 0 ? true : undefined), 60_000, context);
    await agent.kill("SIGKILL");
    const before = Math.max(...numbers());
    agent = await cluster.spawnAgent(node, { dataDir: agent.dataDir, joinToken: null });
    await cluster.waitFor("lines through the restarted agent", async () => (out.stderr.includes("the agent restarted and follows on") && numbers().some((n) => n > before + 2) ? true : undefined), 60_000, context);
    expect(numbers()).toEqual([...numbers()].sort((a, b) => a - b));
    proc.kill("SIGINT");
    expect(await exited).toBe(0);
  }, 120_000);

  it("a log tail takes --timestamps, --since and --stderr to the agent", async () => {
    const stamped = await cluster.cli("logs", "ticker", "--tail", "1", "--timestamps", "--timeout", "30s");
    expect(stamped.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z line \d+\n$/);
    const count = async (...args: string[]) => (await cluster.cli("logs", "ticker", ...args, "--timeout", "30s")).stdout.split("\n").filter(Boolean).length;
    const all = await count("--tail", "10000");
    const recent = await count("--since", "2s");
    // At most five lines a second: a 2 s window holds about ten, fewer than the container has printed.
    expect(recent).toBeGreaterThan(0);
    expect(recent).toBeLessThanOrEqual(15);
    expect(all).toBeGreaterThan(recent);
    const errors = await cluster.cli("logs", "ticker", "--stderr", "--timeout", "30s");
    expect(errors).toMatchObject({ code: 0, stdout: "" });
    expect(errors.stderr).toContain("has no output");
  }, 60_000);

  it("exec prints the command's stdout and stderr and exits with its exit code", async () => {
    const r = await cluster.cli("exec", "ticker", "--", "sh", "-c", "echo out; echo err >&2; exit 3");
    expect(r).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
    const ok = await cluster.cli("exec", "ticker", "--", "cat", "/www/index.html");
    expect(ok).toEqual({ code: 0, stdout: "leasehold test page\n", stderr: "" });
  }, 60_000);
});
