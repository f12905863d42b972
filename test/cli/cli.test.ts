// The CLI in-process against a real control plane (Node server, libSQL file), with hollow agents as the fleet.
import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { hostname, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HollowAgent, httpFetcher } from "../../bench/hollow-agent";
import { DEFAULT_MESH_PORT, DEFAULT_METRICS_ADDR, type AgentOptions } from "../../cli/commands/agent";
import { controlPlaneBase } from "../../cli/client";
import { cliConfigPath, resolveCliConfig, writeCliConfig } from "../../cli/config";
import { EXIT } from "../../cli/exit-codes";
import { runCli } from "../../cli/main";
import { parseConfig } from "../../worker/config";
import { startNodeServer, type NodeServer } from "../../worker/node";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

let server: NodeServer;
let dir: string;
let token: string;
const cleanups: (() => Promise<void>)[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-cli-"));
  server = await startNodeServer({ dataDir: join(dir, "data"), port: 0, sweep: true, config: parseConfig({ sweepInterval: "200ms" }), log: () => {} });
  if (!server.adminToken) throw new Error("a fresh data dir should yield an admin token");
  token = server.adminToken;
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with the server and admin token in the environment and no config file to fall back on. */
async function cli(args: string[], opts: { env?: Record<string, string | undefined>; onStderr?: (chunk: string) => void } = {}): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: {
      write: (s: string) => {
        stderr += s;
        opts.onStderr?.(s);
      },
    },
    env: { HOME: dir, XDG_CONFIG_HOME: join(dir, "xdg"), LEASEHOLD_ADDR: server.url, LEASEHOLD_TOKEN: token, ...opts.env },
    fetch: globalThis.fetch,
  });
  return { code, stdout, stderr };
}

function jobFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const WEB = `# a comment the control plane never sees as anything but YAML
name: web
image: nginx:1.27
replicas: 2
resources: { cpu: 250, memory: 128 }
`;

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** A hollow agent, enrolled with a fresh join token and made ready by one heartbeat. */
async function enroll(name: string, opts: ConstructorParameters<typeof HollowAgent>[2] = {}): Promise<HollowAgent> {
  const { token: joinToken } = await api<{ token: string }>("POST", "/v1/join-tokens", { description: "cli test" });
  const agent = new HollowAgent(httpFetcher(server.url), name, opts);
  await agent.enroll(joinToken);
  await agent.heartbeat();
  return agent;
}

/** Heartbeats and claims in the background, as a live agent would, until the test ends. */
function keepAlive(agent: HollowAgent, everyMs = 150): void {
  let running = true;
  const loop = (async () => {
    while (running) {
      await agent.heartbeat();
      await agent.claim();
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  cleanups.push(async () => {
    running = false;
    await loop;
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("apply", () => {
  it("applies a YAML file, reports unplaced slots with exit 2, and says when nothing changed", async () => {
    const file = jobFile("web.yaml", WEB);
    const first = await cli(["apply", file]);
    expect(first.code).toBe(EXIT.unplaced);
    expect(first.stdout).toMatch(/^job default\/web applied: version 1\n/);
    expect(first.stdout).toContain("slot 0 not placed: no node with 250m cpu and 128MiB memory");
    expect(first.stdout).toContain("slot 1 not placed:");
    expect(first.stderr).toBe("error: 2 slots of default/web could not be placed; the job is stored, and its slots are placed once the fleet has room for them\n");

    const again = await cli(["apply", file]);
    expect(again).toEqual({ code: 0, stdout: "job default/web unchanged: version 1\n", stderr: "" });

    // The count alone is a scale: no new version.
    const scaled = await cli(["apply", jobFile("web2.yaml", WEB.replace("replicas: 2", "replicas: 3")), "-o", "json"]);
    expect(scaled.code).toBe(EXIT.unplaced);
    const body = JSON.parse(scaled.stdout) as { job: { id: string; version: number }; changed: boolean; evaluation: { unplaced: unknown[] } };
    expect(body).toMatchObject({ job: { id: "default/web", version: 1 }, changed: true, scaled: { from: 2, to: 3 } });
    expect(body.evaluation.unplaced).toHaveLength(3);
    const changed = await cli(["apply", jobFile("web3.yaml", WEB.replace("replicas: 2", "replicas: 3").replace("nginx:1.27", "nginx:1.28"))]);
    expect(changed.code).toBe(EXIT.unplaced);
    expect(changed.stdout).toMatch(/^job default\/web applied: version 2\n/);
  });

  it("puts a file without a namespace into -n, and refuses a file whose namespace -n contradicts", async () => {
    await api("POST", "/v1/namespaces", { name: "team-a" });
    const ok = await cli(["-n", "team-a", "apply", jobFile("web.yaml", WEB)]);
    expect(ok.stderr).toMatch(/^error: 2 slots of team-a\/web could not be placed/);
    expect(ok.stdout).toMatch(/^job team-a\/web applied: version 1/);
    const listed = await api<{ jobs: { id: string }[] }>("GET", "/v1/namespaces/team-a/jobs");
    expect(listed.jobs.map((j) => j.id)).toEqual(["team-a/web"]);

    const clash = await cli(["-n", "team-b", "apply", jobFile("api.yaml", "name: api\nnamespace: team-a\nimage: api:1\n")]);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain('is for namespace "team-a" but -n says "team-b"');
  });

  it("rejects an invalid file locally with field paths and creates nothing", async () => {
    const bad = jobFile("bad.yaml", "name: Web_Server\nimage: nginx\nreplicas: -1\nresources: { cpu: 0, memory: 64 }\n");
    const r = await cli(["apply", bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe(`error: ${bad} is not a valid job file`);
    expect(lines.slice(1).map((l) => l.split(":")[0]?.trim()).sort()).toEqual(["name", "replicas", "resources.cpu"]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect((await api<{ jobs: unknown[] }>("GET", "/v1/namespaces/default/jobs")).jobs).toEqual([]);

    const notYaml = await cli(["apply", jobFile("broken.yaml", "name: [unclosed\n")]);
    expect(notYaml.code).toBe(1);
    expect(notYaml.stderr).toMatch(/^error: .*broken\.yaml: job file is not valid YAML or JSON/);

    const missing = await cli(["apply", join(dir, "nope.yaml")]);
    expect(missing.stderr).toBe(`error: cannot read ${join(dir, "nope.yaml")}: ENOENT\n`);
  });

  it("--wait follows progress on stderr until every replica runs healthy", async () => {
    const agent = await enroll("node-a");
    let started = false;
    // The agent starts working only once the CLI has reported it is waiting, so the wait is observed.
    const r = await cli(["apply", jobFile("web.yaml", WEB), "--wait", "--timeout", "20s"], {
      onStderr: (s) => {
        if (!started && s.includes("waiting for default/web")) {
          started = true;
          keepAlive(agent);
        }
      },
    });
    expect(r.code, r.stderr).toBe(0);
    // A service's new version is a deployment: the wait follows it, and counts the version's slots.
    expect(r.stderr).toMatch(/^waiting for default\/web: deployment [0-9a-f]{8}, version 1\n/);
    expect(r.stderr).toContain("waiting for default/web: v1: 0/2 healthy, 2 starting (0 of 2 slots at version 1 healthy)\n");
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("job default/web applied: version 1");
    expect(lines.at(-1)).toMatch(/^job default\/web ready: every slot runs version 1 healthy \(\d+\.\ds\)$/);
    const detail = await api<{ tasks: { state: string; health: string | null }[] }>("GET", "/v1/namespaces/default/jobs/web");
    expect(detail.tasks.map((t) => [t.state, t.health])).toEqual([["running", "healthy"], ["running", "healthy"]]);
  });

  it("--wait -o json prints the apply result with the job as it was when ready", async () => {
    keepAlive(await enroll("node-a"));
    const r = await cli(["apply", jobFile("web.yaml", WEB), "--wait", "--timeout", "20s", "-o", "json"]);
    expect(r.code, r.stderr).toBe(0);
    const body = JSON.parse(r.stdout) as { changed: boolean; wait: { tasks: { state: string }[] } };
    expect(body.changed).toBe(true);
    expect(body.wait.tasks.map((t) => t.state)).toEqual(["running", "running"]);
  });

  it("--wait gives up at the deadline with exit 4 and says what is missing", async () => {
    // The node is ready but its agent never claims: the task stays placed, which may still change.
    await enroll("node-a");
    const startedAt = Date.now();
    const r = await cli(["apply", jobFile("web.yaml", WEB.replace("replicas: 2", "replicas: 1")), "--wait", "--timeout", "1s"]);
    const took = Date.now() - startedAt;
    expect(r.code, r.stderr).toBe(EXIT.timeout);
    expect(r.stdout).toContain("job default/web applied: version 1");
    expect(r.stderr).toMatch(/error: job default\/web version 1 not ready after 1\.\ds: v1: 0\/1 healthy, 1 starting \(0 of 1 slots at version 1 healthy\); slot 0: placed\n$/);
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(5000);
  });

  it("exits 2 for a job no node can fit, and --wait says so long before its timeout", async () => {
    keepAlive(await enroll("small", { cpu: 100, memory: 64 }));
    const file = jobFile("web.yaml", WEB.replace("replicas: 2", "replicas: 1"));
    const applied = await cli(["apply", file]);
    expect(applied.code).toBe(EXIT.unplaced);
    expect(applied.stdout).toContain("slot 0 not placed: no node with 250m cpu and 128MiB memory: 1 node short on cpu");

    // A fresh job (its apply's evaluation reports it unplaced), and the same job applied unchanged (no evaluation).
    for (const [what, path] of [["fresh", jobFile("big.yaml", WEB.replace("name: web", "name: big").replace("replicas: 2", "replicas: 1"))], ["unchanged", file]] as const) {
      const startedAt = Date.now();
      const r = await cli(["apply", path, "--wait", "--timeout", "60s"]);
      const took = Date.now() - startedAt;
      expect(r.code, `${what}: ${r.stderr}`).toBe(EXIT.unplaced);
      expect(r.stderr).toMatch(/waiting for default\/(web|big): v1: 0\/1 healthy, 1 not placed yet \(0 of 1 slots at version 1 healthy\)\n/);
      expect(r.stderr).toMatch(/\n {2}slot 0: pending \(no node with 250m cpu and 128MiB memory: 1 node short on cpu\)\n/);
      expect(r.stderr).toMatch(/error: job default\/(web|big) version 1 cannot be placed: slot 0: no node with 250m cpu and 128MiB memory: 1 node short on cpu; the job is stored/);
      expect(took, what).toBeLessThan(10_000);
    }
  });

  it("--wait prints a task's message as it changes, and its last error when it gives up", async () => {
    const agent = await enroll("node-a");
    // A pull that fails on the node; the reschedule delay keeps the failed task in view for the whole wait.
    const pullError = "pull access denied for nosuch/image\nrepository does not exist or may require 'docker login'";
    failTasks(agent, pullError);
    const job = "name: web\nimage: nosuch/image:1\nresources: { cpu: 250, memory: 128 }\nreschedule: { delay: 1m }\n";
    const r = await cli(["apply", jobFile("web.yaml", job), "--wait", "--timeout", "3s"]);
    // The new version's task failing fails its deployment: the wait ends there, with the task's last error.
    expect(r.code, r.stderr).toBe(EXIT.failed);
    const oneLine = "pull access denied for nosuch/image repository does not exist or may require 'docker login'";
    expect(r.stderr).toMatch(new RegExp(`error: job default/web version 1 failed: slot 0 of version 1 failed\n  slot 0: failed \\(${oneLine.replace(/[()]/g, "\\$&")}\\)\n$`));

    // status shows the same last error in the task table's MESSAGE column, on the task's own line.
    const status = await cli(["status", "web"]);
    const [header, row] = status.stdout.split("\n").filter((l) => l.startsWith("TASK") || /^[0-9a-f]{8}  /.test(l));
    expect(header).toMatch(/\s+MESSAGE$/);
    expect(row).toMatch(new RegExp(`^[0-9a-f]{8}\\s+0\\s+1\\s+node-a\\s+failed\\s+.*  ${oneLine}$`));
  });
});

/** Claims each placement and reports it failed with `message`, as an agent whose image pull fails does. */
function failTasks(agent: HollowAgent, message: string): void {
  let running = true;
  const loop = (async () => {
    while (running) {
      await agent.claim();
      const tasks = [...agent.leases.values()].map((l) => ({ lease: l.lease, state: "failed", health: null, exitCode: null, message }));
      agent.leases.clear();
      const res = await fetch(`${server.url}/v1/agent/heartbeat`, {
        method: "POST",
        headers: { authorization: `Bearer ${agent.credential}`, "content-type": "application/json" },
        body: JSON.stringify({ tasks }),
      });
      if (!res.ok) throw new Error(`heartbeat: ${res.status} ${await res.text()}`);
      await sleep(100);
    }
  })();
  cleanups.push(async () => {
    running = false;
    await loop;
  });
}

describe("status, nodes, stop", () => {
  it("lists jobs in the namespace, and shows one job with its tasks and events", async () => {
    const empty = await cli(["status"]);
    expect(empty.stdout).toBe("no jobs in namespace default\n");

    const agent = await enroll("node-a");
    await cli(["apply", jobFile("web.yaml", WEB)]);
    await cli(["apply", jobFile("batch.yaml", "name: report\ntype: batch\nimage: report:1\nreplicas: 1\nresources: { cpu: 100000, memory: 64 }\n")]);
    await agent.claim();
    await agent.heartbeat();

    const list = await cli(["status"]);
    expect(list.code).toBe(0);
    expect(list.stdout.split("\n")).toEqual([
      "NAME    TYPE     STATUS   VERSION  RUNNING",
      "report  batch    running  1        0/1 (0 complete)",
      "web     service  running  1        2/2",
      "",
    ]);

    const one = await cli(["status", "web"]);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain("job:       default/web\n");
    expect(one.stdout).toContain("replicas:  2/2 running, 2 healthy\n");
    const taskRows = one.stdout.split("\n").filter((l) => /^[0-9a-f]{8}  /.test(l));
    expect(taskRows).toHaveLength(2);
    for (const row of taskRows) expect(row).toMatch(/^[0-9a-f]{8}\s+[01]\s+1\s+node-a\s+running\s+healthy\s+-\s+-\s+0\s+-\s+-/);
    expect(one.stdout).toMatch(/Recent events:\n {2}TIME \(UTC\)\s+TYPE\s+MESSAGE\n/);
    expect(one.stdout).toMatch(/  [0-9-]{10} [0-9:]{8}  task.running  running\n/);

    const json = await cli(["status", "web", "-o", "json"]);
    const body = JSON.parse(json.stdout) as { job: { id: string }; tasks: unknown[]; events: { type: string }[] };
    expect(body.job.id).toBe("default/web");
    expect(body.tasks).toHaveLength(2);
    expect(body.events.map((e) => e.type)).toContain("task.running");

    const missing = await cli(["status", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("error: job default/nope does not exist\n");
  });

  it("shows an empty fleet, then an enrolled agent as ready with its allocation", async () => {
    const empty = await cli(["nodes"]);
    expect(empty).toEqual({ code: 0, stdout: "no nodes have enrolled yet\n", stderr: "" });

    const agent = await enroll("node-a", { region: "eu", cpu: 2000, memory: 4096 });
    await cli(["apply", jobFile("web.yaml", WEB)]);
    await agent.claim();
    await agent.heartbeat();

    const r = await cli(["nodes"]);
    expect(r.code).toBe(0);
    const [header, row, ...rest] = r.stdout.split("\n");
    expect(header).toMatch(/^NAME\s+REGION\s+STATE\s+CPU \(m\)\s+MEMORY \(MiB\)\s+TASKS\s+HEARTBEAT$/);
    expect(row).toMatch(/^node-a\s+eu\s+ready\s+500\/2000\s+256\/4096\s+2\s+\d+s ago$/);
    expect(rest).toEqual([""]);

    const json = JSON.parse((await cli(["nodes", "-o", "json"])).stdout) as { nodes: { id: string; name: string; state: string }[] };
    expect(json.nodes).toEqual([expect.objectContaining({ id: agent.nodeId, name: "node-a", state: "ready" })]);
  });

  it("stops a job, and says so when it was already stopped", async () => {
    const agent = await enroll("node-a");
    await cli(["apply", jobFile("web.yaml", WEB)]);
    await agent.claim();
    await agent.heartbeat();

    const r = await cli(["stop", "web"]);
    expect(r).toEqual({ code: 0, stdout: "job default/web stopped: 2 tasks stopping\n", stderr: "" });
    const detail = await api<{ job: { status: string }; tasks: { desired: string }[] }>("GET", "/v1/namespaces/default/jobs/web");
    expect(detail.job.status).toBe("stopped");
    expect(detail.tasks.map((t) => t.desired)).toEqual(["stop", "stop"]);

    expect((await cli(["stop", "web"])).stdout).toBe("job default/web was already stopped\n");
    const missing = await cli(["stop", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("error: job default/nope does not exist\n");
  });
});

describe("scale, history, rollback", () => {
  it("scales without a version, lists versions with the fields each changed, diffs two, and rolls back to one", async () => {
    const file = jobFile("web.yaml", WEB);
    expect((await cli(["apply", file])).code).toBe(EXIT.unplaced);
    const scaled = await cli(["scale", "web", "5"]);
    expect(scaled.code, scaled.stderr).toBe(0);
    expect(scaled.stdout).toMatch(/^job default\/web scaled from 2 to 5 \(version 1\)\n/);
    expect((await cli(["scale", "web", "5"])).stdout).toBe("job default/web already has 5 replicas\n");
    const stale = await cli(["scale", "web", "3", "--check-version", "7"]);
    expect(stale.code).toBe(EXIT.error);
    expect(stale.stderr).toContain("is at version 1, not 7");
    expect((await cli(["scale", "web", "-1"])).code).toBe(EXIT.error);

    await cli(["apply", jobFile("v2.yaml", WEB.replace("nginx:1.27", "nginx:1.28").replace("replicas: 2", "replicas: 5"))]);
    await cli(["apply", jobFile("v3.yaml", WEB.replace("nginx:1.27", "nginx:1.28").replace("replicas: 2", "replicas: 5") + "env: { MODE: fast }\n")]);
    const history = await cli(["history", "web"]);
    expect(history.code, history.stderr).toBe(0);
    const lines = history.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^VERSION\s+AGE\s+BY\s+CHANGED$/);
    expect(lines.slice(1).map((l) => [l.split(/\s+/)[0], l.slice(l.lastIndexOf("  ") + 2)])).toEqual([
      ["3", "env.MODE"],
      ["2", "image"],
      ["1", "(first)"],
    ]);
    const diff = await cli(["history", "web", "--diff", "1", "3"]);
    expect(diff.stdout).toBe("+ env.MODE: fast\n~ image: nginx:1.27 → nginx:1.28\n");
    expect((await cli(["history", "web", "--diff", "1", "9"])).stderr).toContain("has no version 9 (it has 1, 2, 3)");

    // A guarded apply: only while the job is at the version the caller saw.
    const guarded = jobFile("v4.yaml", WEB.replace("nginx:1.27", "nginx:1.29"));
    const refused = await cli(["apply", guarded, "--check-version", "2"]);
    expect(refused.code).toBe(EXIT.error);
    expect(refused.stderr).toContain("is at version 3, not 2");
    expect((await api<{ job: { version: number } }>("GET", "/v1/namespaces/default/jobs/web")).job.version).toBe(3);
    expect((await cli(["apply", jobFile("new.yaml", WEB.replace("name: web", "name: other")), "--check-version", "1"])).stderr).toContain("does not exist yet");

    const back = await cli(["rollback", "web", "--to", "1"]);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toBe("job default/web rolled back to version 1's spec: now version 4, rolling out\n");
    const detail = await api<{ job: { version: number }; spec: { image: string; replicas: number } }>("GET", "/v1/namespaces/default/jobs/web");
    expect(detail).toMatchObject({ job: { version: 4 }, spec: { image: "nginx:1.27", replicas: 5 } });
    expect((await cli(["history", "web", "--diff", "1", "4"])).stdout).toBe("versions 1 and 4 are the same template\n");
  });
});

describe("logs", () => {
  /** Answers log requests the way an agent does: they arrive with a heartbeat and are uploaded with its credential. */
  function answerLogs(agent: HollowAgent, output: (taskId: string) => string): void {
    let running = true;
    const loop = (async () => {
      while (running) {
        const hb = await agent.heartbeat();
        for (const req of hb.logRequests) {
          const res = await fetch(`${server.url}/v1/agent/logs/${req.id}`, {
            method: "POST",
            headers: { authorization: `Bearer ${agent.credential}`, "content-type": "application/json" },
            body: JSON.stringify({ output: output(req.taskId) }),
          });
          if (!res.ok) throw new Error(`log upload: ${res.status} ${await res.text()}`);
        }
        await sleep(100);
      }
    })();
    cleanups.push(async () => {
      running = false;
      await loop;
    });
  }

  it("prints one task's tail as is, and several tasks' with a header each", async () => {
    const agent = await enroll("node-a");
    await cli(["apply", jobFile("web.yaml", WEB)]);
    await agent.claim();
    await agent.heartbeat();
    const detail = await api<{ tasks: { id: string }[] }>("GET", "/v1/namespaces/default/jobs/web");
    const [t0, t1] = detail.tasks.map((t) => t.id);
    if (!t0 || !t1) throw new Error("expected two tasks");
    answerLogs(agent, (taskId) => `hello from ${taskId}\nsecond line\n`);

    const one = await cli(["logs", "web", "--task", t1.slice(0, 8), "--tail", "20", "--timeout", "15s"]);
    expect(one.stderr).toBe("");
    expect(one).toMatchObject({ code: 0, stdout: `hello from ${t1}\nsecond line\n` });

    const all = await cli(["logs", "web", "--timeout", "15s"]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toBe(
      `==> task ${t0.slice(0, 8)} on node-a <==\nhello from ${t0}\nsecond line\n\n==> task ${t1.slice(0, 8)} on node-a <==\nhello from ${t1}\nsecond line\n`,
    );
  });

  it("gives up when no agent answers before the timeout", async () => {
    const agent = await enroll("node-a");
    await cli(["apply", jobFile("web.yaml", WEB.replace("replicas: 2", "replicas: 1"))]);
    await agent.claim();
    await agent.heartbeat();
    const r = await cli(["logs", "web", "--timeout", "1s"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^error: no answer within 1s from task [0-9a-f]{8} \(node [0-9a-f]{8}\): is its agent connected\?\n$/);
  });

  it("says (no output) for a task whose log is empty, under its header or beside the tail", async () => {
    const agent = await enroll("node-a");
    await cli(["apply", jobFile("web.yaml", WEB)]);
    await agent.claim();
    await agent.heartbeat();
    const detail = await api<{ tasks: { id: string }[] }>("GET", "/v1/namespaces/default/jobs/web");
    const [t0, t1] = detail.tasks.map((t) => t.id);
    if (!t0 || !t1) throw new Error("expected two tasks");
    answerLogs(agent, (taskId) => (taskId === t0 ? "" : "one line\n"));

    const all = await cli(["logs", "web", "--timeout", "15s"]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toBe(`==> task ${t0.slice(0, 8)} on node-a <==\n(no output)\n\n==> task ${t1.slice(0, 8)} on node-a <==\none line\n`);

    // One task's tail is the command's stdout as is: it stays empty, and the note goes to stderr.
    const one = await cli(["logs", "web", "--task", t0, "--timeout", "15s"]);
    expect(one).toEqual({ code: 0, stdout: "", stderr: `task ${t0.slice(0, 8)} has no output\n` });
  });

  it("says a job that does not exist does not exist", async () => {
    const r = await cli(["logs", "nosuchjob"]);
    expect(r).toEqual({ code: 1, stdout: "", stderr: "error: job default/nosuchjob does not exist\n" });
  });

  it("reports a job with no task on a node", async () => {
    await cli(["apply", jobFile("web.yaml", WEB)]);
    const r = await cli(["logs", "web"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: job default/web has no tasks on a node\n");
  });
});

describe("configuration and errors", () => {
  it("takes each setting from the flag, else the environment, else the config file", async () => {
    const path = join(dir, "conf", "nested", "config.json");
    writeCliConfig({ addr: "http://file.invalid", token: "file-token" }, path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const env = { LEASEHOLD_CONFIG: path };
    expect(cliConfigPath(env)).toBe(path);
    expect(resolveCliConfig({}, env)).toEqual({ addr: "http://file.invalid", token: "file-token" });
    expect(resolveCliConfig({}, { ...env, LEASEHOLD_TOKEN: "env-token" })).toEqual({ addr: "http://file.invalid", token: "env-token" });
    expect(resolveCliConfig({ token: "flag-token" }, { ...env, LEASEHOLD_TOKEN: "env-token", LEASEHOLD_ADDR: "http://env.invalid/" })).toEqual({
      addr: "http://env.invalid",
      token: "flag-token",
    });
    expect(resolveCliConfig({ addr: "https://flag.invalid" }, { ...env, LEASEHOLD_ADDR: "http://env.invalid" }).addr).toBe("https://flag.invalid");

    // The XDG location, then ~/.config, when LEASEHOLD_CONFIG is not set.
    writeCliConfig({ addr: "http://xdg.invalid", token: "t" }, join(dir, "xdg2", "leasehold", "config.json"));
    expect(resolveCliConfig({}, { XDG_CONFIG_HOME: join(dir, "xdg2"), HOME: dir }).addr).toBe("http://xdg.invalid");
    writeCliConfig({ addr: "http://home.invalid", token: "t" }, join(dir, "home", ".config", "leasehold", "config.json"));
    expect(resolveCliConfig({}, { HOME: join(dir, "home") }).addr).toBe("http://home.invalid");

    // End to end: a file alone is enough; a bad token in the environment beats a good one in the file; a flag beats both.
    writeCliConfig({ addr: server.url, token }, path);
    const fromFile = await cli(["nodes"], { env: { LEASEHOLD_CONFIG: path, LEASEHOLD_ADDR: undefined, LEASEHOLD_TOKEN: undefined } });
    expect(fromFile).toEqual({ code: 0, stdout: "no nodes have enrolled yet\n", stderr: "" });
    const envWins = await cli(["nodes"], { env: { LEASEHOLD_CONFIG: path, LEASEHOLD_ADDR: undefined, LEASEHOLD_TOKEN: "bad" } });
    expect(envWins.code).toBe(1);
    const flagWins = await cli(["--token", token, "nodes"], { env: { LEASEHOLD_CONFIG: path, LEASEHOLD_ADDR: undefined, LEASEHOLD_TOKEN: "bad" } });
    expect(flagWins.code).toBe(0);
  });

  it("takes an address with a trailing /v1 or slashes as the control plane's base", async () => {
    for (const addr of [`${server.url}/v1`, `${server.url}/v1/`, `${server.url}//`]) {
      expect(await cli(["--addr", addr, "nodes"]), addr).toEqual({ code: 0, stdout: "no nodes have enrolled yet\n", stderr: "" });
      expect((await cli(["nodes"], { env: { LEASEHOLD_ADDR: addr } })).code, addr).toBe(0);
    }
    expect(resolveCliConfig({ addr: "https://cp.example/v1/", token: "t" }, {}).addr).toBe("https://cp.example");
    // Only the path is trimmed: a host named v1 stays, and so does a proxy's prefix before /v1.
    expect(controlPlaneBase("http://v1")).toBe("http://v1");
    expect(controlPlaneBase("https://proxy.example/leasehold/v1/")).toBe("https://proxy.example/leasehold");
    expect(controlPlaneBase("https://cp.example/v12")).toBe("https://cp.example/v12");
  });

  it("says clearly when no control plane or token is configured", async () => {
    const noAddr = await cli(["status"], { env: { LEASEHOLD_ADDR: undefined, LEASEHOLD_TOKEN: undefined } });
    expect(noAddr.code).toBe(1);
    expect(noAddr.stdout).toBe("");
    expect(noAddr.stderr).toBe(`error: no control plane address: pass --addr, set LEASEHOLD_ADDR, or put "addr" in ${join(dir, "xdg", "leasehold", "config.json")}\n`);

    const noToken = await cli(["status"], { env: { LEASEHOLD_TOKEN: undefined } });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/^error: no operator token: pass --token, set LEASEHOLD_TOKEN/);

    mkdirSync(join(dir, "xdg", "leasehold"), { recursive: true });
    writeFileSync(join(dir, "xdg", "leasehold", "config.json"), "{not json");
    const broken = await cli(["status"], { env: { LEASEHOLD_TOKEN: undefined } });
    expect(broken.stderr).toMatch(/^error: config file .*config\.json is not valid JSON\n$/);
  });

  it("turns a 401 into one line and a non-zero exit", async () => {
    const r = await cli(["status"], { env: { LEASEHOLD_TOKEN: "not-a-token" } });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("error: not authenticated: token is malformed or not acceptable (check --token or LEASEHOLD_TOKEN)\n");
  });

  it("reports an unreachable control plane, bad options and unknown commands without a stack trace", async () => {
    const closedPort = await new Promise<number>((done) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address() as { port: number };
        s.close(() => done(port));
      });
    });
    const down = await cli(["nodes"], { env: { LEASEHOLD_ADDR: `http://127.0.0.1:${closedPort}` } });
    expect(down.code).toBe(1);
    expect(down.stderr).toBe(`error: cannot reach the control plane at http://127.0.0.1:${closedPort}: ECONNREFUSED\n`);

    const badOutput = await cli(["-o", "yaml", "nodes"]);
    expect(badOutput.code).toBe(1);
    expect(badOutput.stderr).toMatch(/^error: option '-o, --output <format>' argument 'yaml' is invalid/);

    const badTimeout = await cli(["apply", "x.yaml", "--wait", "--timeout", "soon"]);
    expect(badTimeout.code).toBe(1);
    expect(badTimeout.stderr).toContain('"soon" is not a duration');

    const unknown = await cli(["frobnicate"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: unknown command 'frobnicate'/);

    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    for (const command of ["apply", "status", "nodes", "logs", "stop", "db", "agent"]) expect(help.stdout).toMatch(new RegExp(`\\n  ${command} `));
  });

  it("documents its exit codes in the help", async () => {
    for (const args of [["--help"], ["apply", "--help"]]) {
      const help = await cli(args);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("\nExit codes:\n");
      for (const code of Object.values(EXIT)) expect(help.stdout, `${args.join(" ")}: ${code}`).toMatch(new RegExp(`\\n  ${code}  \\S`));
    }
  });

  it("exits quietly when the reader of its output goes away (status -o json | true)", async () => {
    const child = spawn(process.execPath, [join(ROOT, "cli", "bin.js"), "status", "-o", "json"], {
      env: { ...process.env, LEASEHOLD_ADDR: server.url, LEASEHOLD_TOKEN: token, LEASEHOLD_CONFIG: join(dir, "none.json") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    // The reader is gone before the CLI has written anything: its first write meets a closed pipe.
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((done) => child.on("close", (c) => done(c)));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });
});

describe("db migrate", () => {
  it("migrates the embedded file in --data-dir, LEASEHOLD_DATA_DIR, or LIBSQL_URL", async () => {
    const tables = async (url: string) => {
      const client = createClient({ url });
      try {
        const rows = await client.execute("SELECT name FROM sqlite_master WHERE type = 'table'");
        return rows.rows.map((r) => String(r["name"]));
      } finally {
        client.close();
      }
    };
    const flagDir = join(dir, "flag-data");
    const r = await cli(["db", "migrate", "--data-dir", flagDir]);
    expect(r).toEqual({ code: 0, stdout: `database migrated: file:${join(flagDir, "leasehold.db")}\n`, stderr: "" });
    expect(await tables(`file:${join(flagDir, "leasehold.db")}`)).toEqual(expect.arrayContaining(["jobs", "tasks", "nodes"]));
    // Running it again is a no-op, not an error.
    expect((await cli(["db", "migrate", "--data-dir", flagDir])).code).toBe(0);

    const envDir = join(dir, "env-data");
    expect((await cli(["db", "migrate"], { env: { LEASEHOLD_DATA_DIR: envDir } })).stdout).toBe(`database migrated: file:${join(envDir, "leasehold.db")}\n`);
    expect(await tables(`file:${join(envDir, "leasehold.db")}`)).toContain("jobs");

    const url = `file:${join(dir, "by-url.db")}`;
    expect((await cli(["db", "migrate", "--data-dir", flagDir], { env: { LIBSQL_URL: url } })).stdout).toBe(`database migrated: ${url}\n`);
    expect(await tables(url)).toContain("job_versions");
  });
});

describe("agent", () => {
  it("passes its options to runAgent and stops it on SIGTERM, exiting 0", async () => {
    const signals = new EventEmitter();
    let received: AgentOptions | undefined;
    let stopped = false;
    const runAgent = async (opts: AgentOptions) => {
      received = opts;
      return { nodeId: "node-1", stop: async () => void (stopped = true) };
    };
    let stderr = "";
    const run = runCli(
      ["agent", "--server", server.url, "--join-token", "lhj_x.y", "--name", "edge-1", "--region", "eu", "--label", "disk=ssd", "--label", "gpu=a100=x", "--data-dir", join(dir, "agent"), "--mesh-port", "7800"],
      { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) }, env: {}, fetch: globalThis.fetch, runAgent, signals },
    );
    while (!stderr.includes("running as node")) await sleep(10);
    expect(stopped).toBe(false);
    signals.emit("SIGTERM");
    expect(await run).toBe(0);
    expect(stopped).toBe(true);
    expect(received).toEqual({ server: server.url, joinToken: "lhj_x.y", name: "edge-1", region: "eu", labels: { disk: "ssd", gpu: "a100=x" }, dataDir: join(dir, "agent"), meshPort: 7800, metricsAddr: DEFAULT_METRICS_ADDR });
    expect(signals.listenerCount("SIGTERM") + signals.listenerCount("SIGINT")).toBe(0);
  });

  it("defaults name, region, labels and data dir, and takes the join token from LEASEHOLD_JOIN_TOKEN", async () => {
    const signals = new EventEmitter();
    let received: AgentOptions | undefined;
    const run = runCli(["agent", "--server", server.url], {
      stdout: { write: () => true },
      stderr: { write: () => true },
      env: { LEASEHOLD_JOIN_TOKEN: "lhj_env.secret" },
      fetch: globalThis.fetch,
      signals,
      runAgent: async (opts) => {
        received = opts;
        setTimeout(() => signals.emit("SIGINT"), 0);
        return { nodeId: "n", stop: async () => {} };
      },
    });
    expect(await run).toBe(0);
    // No region: the join token's, else global (decided at enrollment).
    expect(received).toEqual({ server: server.url, joinToken: "lhj_env.secret", name: hostname(), labels: {}, dataDir: resolve(".leasehold-agent"), meshPort: DEFAULT_MESH_PORT, metricsAddr: DEFAULT_METRICS_ADDR });
  });

  it("ends with 0 when interrupted while the agent is still starting", async () => {
    const signals = new EventEmitter();
    let stopped = false;
    let start: (agent: { nodeId: string; stop(): Promise<void> }) => void = () => {};
    const starting = new Promise<{ nodeId: string; stop(): Promise<void> }>((done) => (start = done));
    let stderr = "";
    const run = runCli(["agent", "--server", server.url], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (stderr += s) },
      env: {},
      fetch: globalThis.fetch,
      signals,
      runAgent: () => starting,
    });
    await sleep(20);
    signals.emit("SIGINT");
    expect(await run).toBe(0);
    expect(stderr).toBe("interrupted before the agent started\n");
    expect(signals.listenerCount("SIGINT")).toBe(0);
    // An agent that finishes starting after the interrupt is stopped straight away.
    start({ nodeId: "late", stop: async () => void (stopped = true) });
    await sleep(10);
    expect(stopped).toBe(true);
  });

  it("reaches the real agent module, whose refusal to start without a join token is one error line", async () => {
    const r = await cli(["agent", "--server", server.url, "--name", "edge-1", "--data-dir", join(dir, "agent")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr).not.toContain("not available in this build");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("rejects a label that is not key=value", async () => {
    const r = await cli(["agent", "--server", server.url, "--label", "ssd"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('"ssd" is not key=value');
  });
});
