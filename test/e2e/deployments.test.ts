// End to end on a real Docker engine: deployments roll a new version slot by slot under the job's update
// block — parallelism, stop-first, minHealthy, canaries, auto-revert, rollback, scale, offline hosts — and
// the test watches what really serves, from the engine and its own probes, not from what the agent reports.
import type Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABELS } from "../../agent/runtime/labels";
import { TestCluster, type AgentProcess } from "../support/cluster";
import { eventually, requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";
import { createNetns, type Netns } from "../support/netns";

const SAMPLE_EVERY_MS = 200;
/** A sampler that paused longer than this could have missed a dip; the run is then not evidence. */
const MAX_SAMPLE_GAP_MS = 1_500;
/** Generous: a loaded 2-core machine may be slow, and slowness is not what these tests judge. */
const SETTLE_MS = 120_000;
/** Waits probe this often: a deployment detail or a round of container probes is not free, and the machine is shared with what is measured. */
const POLL_MS = 250;

// sh as PID 1 with a TERM trap: a stop takes milliseconds, not the whole grace (PID 1 ignores the signals
// it has no handler for, and httpd installs none), so the old copy of a slot stops serving when it is told.
const SERVE = ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"];
// Runs, but every GET answers 404: its health check never passes.
const SERVE_NOTHING = ["sh", "-c", "mkdir -p /empty; trap 'exit 0' TERM; httpd -f -p 8080 -h /empty & wait"];
const EXIT_AT_ONCE = ["sh", "-c", "exit 1"];

/** GET / on the http port, as the agent asks it from its host. */
const HTTP_CHECK = { type: "http", port: "http", path: "/", interval: "500ms", timeout: "500ms", failures: 2 };
/**
 * The same question asked from inside the container: for an agent in a network namespace of its own,
 * whose 127.0.0.1 is not the host's and so does not reach the ports Docker publishes there. Its timeout
 * is generous: a `docker exec` on a loaded machine can take over a second, and a restart it caused would
 * change the very copies the cut-off test watches.
 */
const EXEC_CHECK = { type: "exec", command: ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], interval: "500ms", timeout: "5s", failures: 3 };

/** A web service whose versions differ by RELEASE; `update` is merged over a quick rollout's rules. */
function webSpec(name: string, replicas: number, release: number, update: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    name,
    replicas,
    image: TEST_IMAGE,
    command: SERVE,
    env: { RELEASE: String(release) },
    resources: { cpu: 50, memory: 16 },
    ports: [{ name: "http", container: 8080 }],
    health: HTTP_CHECK,
    // One restart, quickly: a bad version fails within seconds, not after minutes of backoff.
    restart: { mode: "always", attempts: 1, interval: "1m", delay: "200ms" },
    stopGrace: "2s",
    update: { minHealthy: "1s", healthyDeadline: "60s", progressDeadline: "60s", ...update },
    ...extra,
  };
}

interface SlotProgress {
  slot: number;
  canary: boolean;
  taskId: string | null;
  nodeId: string | null;
  state: string | null;
  healthy: boolean;
  oldVersion: number | null;
  offline: boolean;
}

interface Deployment {
  id: string;
  version: number;
  fromVersion: number | null;
  status: "running" | "paused" | "successful" | "failed" | "reverted" | "cancelled";
  description: string;
  promoted: boolean;
  revertOf: string | null;
}

interface DeploymentDetail extends Deployment {
  counts: { desired: number; canaries: number; placed: number; healthy: number; old: number; offline: number };
  slots: SlotProgress[];
  events: { at: number; type: string; message: string }[];
}

/** One running container of a job as the engine shows it, and whether it answered the test's own GET. */
interface Copy {
  id: string;
  slot: number;
  version: number;
  node: string;
  serving: boolean;
}

interface Sample<T> {
  at: number;
  value: T;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Sampler<T> {
  samples: Sample<T>[];
  /** Stops sampling without judging the run: for finally blocks. */
  halt(): Promise<void>;
  /** Stops sampling and returns the samples; throws if a probe failed or the sampler stalled. */
  stop(): Promise<Sample<T>[]>;
}

/** Calls `probe` every `everyMs` until stopped; a probe that throws ends the run and is rethrown by stop. */
function sample<T>(probe: () => Promise<T>, everyMs = SAMPLE_EVERY_MS): Sampler<T> {
  const samples: Sample<T>[] = [];
  let running = true;
  let failure: unknown = null;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      samples.push({ at: started, value: await probe() });
      await sleep(Math.max(0, everyMs - (Date.now() - started)));
    }
  })().catch((error: unknown) => {
    failure = error;
  });
  const halt = async () => {
    running = false;
    await loop;
  };
  return {
    samples,
    halt,
    async stop() {
      await halt();
      // A sampler that died would otherwise read as "nothing bad was seen".
      if (failure) throw new Error(`sampling failed: ${String(failure)}`, { cause: failure });
      const gaps = samples.slice(1).map((s, i) => s.at - samples[i]!.at);
      const worst = Math.max(0, ...gaps);
      if (worst > MAX_SAMPLE_GAP_MS) throw new Error(`the sampler stalled for ${worst} ms: a dip could have gone unseen`);
      return samples;
    },
  };
}

/** The serving count over time as a list of changes, short enough for an assertion message. */
function timeline(samples: Sample<Copy[]>[]): string {
  const lines: string[] = [];
  let prev = "";
  const t0 = samples[0]?.at ?? 0;
  for (const s of samples) {
    const copies = [...s.value].sort((a, b) => a.slot - b.slot);
    const now = copies.map((c) => `${c.slot}:v${c.version}${c.serving ? "" : "(not serving)"}`).join(" ");
    if (now !== prev) lines.push(`  +${s.at - t0} ms: ${copies.filter((c) => c.serving).length} serving — ${now || "none"}`);
    prev = now;
  }
  return lines.join("\n");
}

const serving = (copies: Copy[]) => copies.filter((c) => c.serving);

/** A deployment detail without the noise, for assertion messages. */
function show(d: DeploymentDetail | undefined): string {
  if (d === undefined) return "(no deployment)";
  const { slots, events, ...rest } = d;
  return JSON.stringify({ ...rest, slots, events: events.map((e) => `${e.type}: ${e.message}`) }, null, 1);
}

/**
 * A cluster with the helpers these tests share: the engine's view of a job's copies with a probe of each,
 * the deployment detail, and waits on a deployment's end.
 */
class DeploymentCluster extends TestCluster {
  readonly nodeNames = new Set<string>();

  readonly agentProcesses: AgentProcess[] = [];

  /** Polls `probe` until it gives a value; on a timeout, says what the job's tasks, events and agents show. */
  async until<T>(job: string, what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    try {
      return await eventually(probe, timeoutMs, `${job}: ${what}`, POLL_MS);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${await this.describeJob(job)}`, { cause: error });
    }
  }

  async addAgent(name: string, wrap?: (argv: string[]) => string[]): Promise<AgentProcess> {
    this.nodeNames.add(name);
    const agent = await this.spawnAgent(name, wrap ? { wrap } : {});
    this.agentProcesses.push(agent);
    return agent;
  }

  /**
   * The "serving" signal: the engine reports the container running, and a GET from this test to its
   * published port answers 200. Neither the agent's report nor the control plane's view alone would do:
   * both lag the truth by a heartbeat and are what is under test, while "running" alone says nothing of
   * a container that has not opened its port yet or whose process stopped answering. The probe asks the
   * same question as the job's health check (GET / on the http port).
   */
  async copies(job: string, node?: string): Promise<Copy[]> {
    const rows = await this.docker.listContainers({ filters: { label: [`${LABELS.job}=default/${job}`], status: ["running"] } });
    const mine = rows.filter((r) => this.nodeNames.has(r.Labels[LABELS.node] ?? "") && (node === undefined || r.Labels[LABELS.node] === node));
    return Promise.all(
      mine.map(async (r) => ({
        id: r.Id,
        slot: Number(r.Labels[LABELS.slot]),
        version: Number(r.Labels[LABELS.version]),
        node: r.Labels[LABELS.node] ?? "?",
        serving: await answers(r),
      })),
    );
  }

  deployment(job: string): Promise<DeploymentDetail> {
    return this.api<DeploymentDetail>("GET", `/v1/namespaces/default/jobs/${job}/deployment`);
  }

  async deployments(job: string): Promise<Deployment[]> {
    return (await this.api<{ deployments: Deployment[] }>("GET", `/v1/namespaces/default/deployments?job=${job}`)).deployments;
  }

  /** Waits for the job's deployment of `version` to end (whatever its outcome) and returns its detail. */
  async ended(job: string, version: number, timeoutMs = SETTLE_MS): Promise<DeploymentDetail> {
    let last: DeploymentDetail | undefined;
    try {
      return await eventually(async () => {
        last = await this.deployment(job);
        return last.version === version && last.status !== "running" && last.status !== "paused" ? last : undefined;
      }, timeoutMs, `the deployment of ${job} version ${version} to end`, POLL_MS);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nlast seen: ${show(last)}\n${await this.describeJob(job)}`, { cause: error });
    }
  }

  /** The job's tasks and events as the API shows them, and the agents' last words: for failure messages. */
  async describeJob(job: string): Promise<string> {
    try {
      const { tasks } = await this.job(job);
      const { events } = await this.api<{ events: { at: number; type: string; message: string; taskId: string | null }[] }>("GET", `/v1/namespaces/default/jobs/${job}/events?limit=200`);
      const t0 = Math.min(...events.map((e) => e.at));
      return [
        "tasks:",
        ...tasks.map((t) => `  ${t.id.slice(0, 8)} slot ${t.slot} v${t.version} epoch ${t.epoch}: ${t.state}, desired ${t.desired}, health ${t.health}${t.message ? ` (${t.message})` : ""}`),
        "events:",
        // The API lists newest first; oldest first reads as a story.
        ...[...events].sort((x, y) => x.at - y.at).map((e) => `  +${e.at - t0} ms ${e.type}${e.taskId ? ` ${e.taskId.slice(0, 8)}` : ""}: ${e.message}`),
        ...this.agentLogs(),
      ].join("\n");
    } catch (error) {
      return `(the job could not be read: ${String(error)})`;
    }
  }

  agentLogs(): string[] {
    return this.agentProcesses.map((a) => `--- agent ${a.name} ---\n${a.output.join("").slice(-4_000)}`);
  }

  /** Applies `spec` and waits until its version has rolled out; returns that version. */
  async rollOut(spec: ReturnType<typeof webSpec>): Promise<number> {
    const { job } = await this.api<{ job: { version: number } }>("POST", "/v1/jobs", spec);
    const d = await this.ended(spec.name, job.version);
    if (d.status !== "successful") expect.fail(`${spec.name} version ${job.version} did not roll out\n${show(d)}\n${await this.describeJob(spec.name)}`);
    await this.until(spec.name, `${spec.replicas} copies serving`, async () => {
      const copies = await this.copies(spec.name);
      return copies.length === spec.replicas && copies.every((c) => c.serving && c.version === job.version) ? true : undefined;
    });
    return job.version;
  }

  async versionSpec(job: string, version: number): Promise<Record<string, unknown>> {
    const { versions } = await this.api<{ versions: { version: number; spec: Record<string, unknown> }[] }>("GET", `/v1/namespaces/default/jobs/${job}/versions`);
    const found = versions.find((v) => v.version === version);
    if (!found) throw new Error(`${job} has no version ${version}`);
    return found.spec;
  }
}

/**
 * Whether the container answers GET / with 200 on its published port. A miss is asked again once, 100 ms
 * later: on a loaded machine one slow answer must not read as a copy that stopped serving.
 */
async function answers(row: Dockerode.ContainerInfo): Promise<boolean> {
  const port = row.Ports.find((p) => p.PrivatePort === 8080 && p.PublicPort)?.PublicPort;
  if (port === undefined) return false;
  const get = async () => {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  };
  return (await get()) || (await sleep(100), await get());
}

/** Slots 0 … n−1 of `version`, each with one copy serving. */
function allAt(copies: Copy[], replicas: number, version: number): boolean {
  const slots = copies.filter((c) => c.serving && c.version === version).map((c) => c.slot);
  return copies.length === replicas && new Set(slots).size === replicas && slots.every((s) => s >= 0 && s < replicas);
}

/** The template of a stored spec: what a rollback or revert must bring back (the count is the job's own). */
function template(spec: Record<string, unknown>): Record<string, unknown> {
  const { replicas: _replicas, ...rest } = spec;
  return rest;
}

beforeAll(async () => {
  await requireDocker();
});

/**
 * Samples a 6-replica job, parallelism 2, while `start` begins its rollout to `version`, and judges what
 * served: never fewer than 4 copies, both versions serving at some moment (it rolled in steps), all 6 at
 * the new version at the end. Returns the ended deployment.
 */
async function sampledRollout(cluster: DeploymentCluster, job: string, version: number, start: () => Promise<void>): Promise<DeploymentDetail> {
  const sampler = sample(() => cluster.copies(job));
  let d: DeploymentDetail;
  let startedAt = 0;
  try {
    await sleep(400); // a baseline: the sampler sees all six before the rollout starts
    startedAt = Date.now();
    await start();
    d = await cluster.ended(job, version);
    // A moment after the end: nothing may dip once it is "done" either.
    await sleep(1_000);
  } finally {
    await sampler.halt();
  }
  const samples = await sampler.stop();
  const story = `${timeline(samples)}\n${show(d)}\n${await cluster.describeJob(job)}`;
  expect(d.status, story).toBe("successful");
  expect(samples[0]!.value.filter((c) => c.serving && c.version === version - 1), `the sampler never saw version ${version - 1} serving\n${story}`).toHaveLength(6);
  const least = Math.min(...samples.map((s) => serving(s.value).length));
  console.log(`${job}: version ${version} rolled out in ${d.events.length > 0 ? Math.max(...d.events.map((e) => e.at)) - startedAt : "?"} ms; at least ${least} of 6 copies served throughout (${samples.length} samples)`);
  expect(least, `fewer than 4 copies served during the rollout\n${story}`).toBeGreaterThanOrEqual(4);
  expect(samples.some((s) => new Set(serving(s.value).map((c) => c.version)).size === 2), `never saw both versions serving\n${story}`).toBe(true);
  const final = await cluster.copies(job);
  expect(allAt(final, 6, version), `${JSON.stringify(final)}\n${story}`).toBe(true);
  return d;
}

describe("deployments on one agent", () => {
  const cluster = new DeploymentCluster();
  const node = uniqueNode("e2e-dep");

  beforeAll(async () => {
    await cluster.start();
    await cluster.addAgent(node);
  }, 60_000);
  afterAll(() => cluster.stop(), 60_000);

  it("a 6-replica rolling update with parallelism 2 never has fewer than 4 copies serving, and ends with all 6 at the new version", async () => {
    const job = "dep-rolling";
    const update = { parallelism: 2, order: "stop-first" };
    await cluster.rollOut(webSpec(job, 6, 1, update));

    const d = await sampledRollout(cluster, job, 2, async () => {
      const { job: applied } = await cluster.api<{ job: { version: number } }>("POST", "/v1/jobs", webSpec(job, 6, 2, update));
      expect(applied.version).toBe(2);
    });
    expect(d.status).toBe("successful");
  }, 150_000);

  it("rotating a secret rolls 6 replicas under parallelism 2 like any version: never fewer than 4 serving, every copy ends with the new value", async () => {
    const job = "dep-rotate";
    const update = { parallelism: 2, order: "stop-first" };
    await cluster.api("PUT", "/v1/namespaces/default/secrets/rotated", { value: "first" });
    await cluster.rollOut(webSpec(job, 6, 1, update, { secrets: [{ name: "rotated", file: "/run/secrets/rotated" }] }));
    const d = await sampledRollout(cluster, job, 2, async () => {
      const put = await cluster.api<{ rollouts: { job: string; version: number | null }[] }>("PUT", "/v1/namespaces/default/secrets/rotated", { value: "second" });
      expect(put.rollouts).toEqual([expect.objectContaining({ job: `default/${job}`, version: 2 })]);
    });
    expect((d as DeploymentDetail & { cause?: unknown }).cause).toEqual({ secret: "rotated", version: 2 });
    const final = await cluster.copies(job);
    const { execFile } = await import("node:child_process");
    const values = await Promise.all(
      final.map((c) => new Promise<string>((resolve, reject) => execFile("docker", ["exec", c.id, "cat", "/run/secrets/rotated"], (err, out) => (err ? reject(err) : resolve(out))))),
    );
    expect(values).toEqual(Array(6).fill("second"));
  }, 150_000);

  const badVersions = [
    { what: "its command exits 1 at once", extra: { command: EXIT_AT_ONCE } },
    { what: "its health check never passes", extra: { command: SERVE_NOTHING } },
  ];
  it.each(badVersions)("a bad version ($what) with autoRevert ends reverted, version 1's template rolls out again, and at least replicas − parallelism copies serve throughout", async ({ what, extra }) => {
    const job = what.includes("exits") ? "dep-revert-exit" : "dep-revert-health";
    const replicas = 4;
    const parallelism = 2;
    const update = { parallelism, autoRevert: true };
    await cluster.rollOut(webSpec(job, replicas, 1, update));

    const sampler = sample(() => cluster.copies(job));
    let revert: DeploymentDetail;
    try {
      await sleep(400);
      const { job: applied } = await cluster.api<{ job: { version: number } }>("POST", "/v1/jobs", webSpec(job, replicas, 2, update, extra));
      expect(applied.version).toBe(2);
      // Not a wait on version 2's end: the revert may replace it as the job's latest before a poll sees it.
      revert = await cluster.ended(job, 3);
      await cluster.until(job, `all ${replicas} serving at version 3`, async () => (allAt(await cluster.copies(job), replicas, 3) ? true : undefined), 30_000);
    } finally {
      await sampler.halt();
    }
    const samples = await sampler.stop();
    const [listed] = (await cluster.deployments(job)).filter((x) => x.version === 2);
    const bad = listed && (await cluster.api<DeploymentDetail>("GET", `/v1/namespaces/default/deployments/${listed.id}`));
    const story = `${timeline(samples)}\n--- version 2 ---\n${show(bad)}\n--- version 3 ---\n${show(revert)}\n${await cluster.describeJob(job)}`;

    expect(bad?.status, story).toBe("reverted");
    expect(bad!.events.map((e) => e.type), story).toEqual(expect.arrayContaining(["deployment.failed", "deployment.reverted"]));
    expect(revert.revertOf, story).toBe(bad!.id);
    expect(revert.status, story).toBe("successful");
    expect(template(await cluster.versionSpec(job, 3))).toEqual(template(await cluster.versionSpec(job, 1)));
    const least = Math.min(...samples.map((s) => serving(s.value).length));
    console.log(`${job}: version 2 ${bad?.status} (${bad?.description}); version 3 ${revert.status}; at least ${least} of ${replicas} copies served throughout`);
    expect(least, `fewer than ${replicas - parallelism} copies served\n${story}`).toBeGreaterThanOrEqual(replicas - parallelism);
    // Version 2 never served: it was bad.
    expect(samples.some((s) => s.value.some((c) => c.version === 2 && c.serving)), story).toBe(false);
  }, 150_000);

  it("a canary runs beside every old replica, and nothing else moves until it is promoted; then the rollout completes", async () => {
    const job = "dep-canary";
    const replicas = 3;
    const update = { parallelism: 1, canary: 1 };
    await cluster.rollOut(webSpec(job, replicas, 1, update));
    const old = (await cluster.copies(job)).map((c) => c.id).sort();

    const copies = sample(() => cluster.copies(job));
    const detail = sample(() => cluster.deployment(job), 500);
    let canaryAt = 0;
    try {
      await cluster.api("POST", "/v1/jobs", webSpec(job, replicas, 2, update));
      await cluster.until(job, "the canary to be healthy", async () => {
        const d = await cluster.deployment(job);
        return d.version === 2 && d.slots.some((s) => s.canary && s.healthy) ? true : undefined;
      }, 60_000);
      canaryAt = Date.now();
      // A while with nothing to do but wait for the promote.
      await sleep(3_000);
    } finally {
      await Promise.all([copies.halt(), detail.halt()]);
    }
    const engine = await copies.stop();
    const api = await detail.stop();
    const story = `${timeline(engine)}\n${show(api.at(-1)?.value)}`;

    // Throughout: the old copies untouched, at most one new-version copy, in the canary slot.
    for (const s of engine) {
      const v1 = s.value.filter((c) => c.version === 1).map((c) => c.id).sort();
      const v2 = s.value.filter((c) => c.version === 2);
      expect(v1, `an old copy stopped or a new one appeared at +${s.at - engine[0]!.at} ms\n${story}`).toEqual(old);
      expect(v2.map((c) => c.slot), `a new-version copy outside the canary slot\n${story}`).toEqual(v2.length === 0 ? [] : [-1]);
    }
    const waiting = engine.filter((s) => s.at >= canaryAt);
    expect(waiting.at(-1)!.at - canaryAt, `the wait for the promote was not sampled\n${story}`).toBeGreaterThan(2_500);
    for (const s of waiting) expect(serving(s.value).map((c) => `${c.slot}:v${c.version}`).sort(), story).toEqual(["-1:v2", "0:v1", "1:v1", "2:v1"]);
    for (const s of api.filter((x) => x.value.version === 2)) {
      expect(s.value, story).toMatchObject({ status: "running", promoted: false, counts: { placed: 0, healthy: 0 } });
    }

    console.log(`${job}: the canary was healthy ${canaryAt - engine[0]!.at} ms after the apply; nothing else moved for ${waiting.at(-1)!.at - canaryAt} ms`);
    const promoted = await cluster.deployment(job);
    await cluster.api("POST", `/v1/namespaces/default/deployments/${promoted.id}/promote`, {});
    const d = await cluster.ended(job, 2);
    const after = `${show(d)}\n${await cluster.describeJob(job)}`;
    expect(d.status, after).toBe("successful");
    // The canary row is retired once every slot runs the new version.
    const final = await cluster.until(job, "the canary retired", async () => {
      const now = await cluster.copies(job);
      return allAt(now, replicas, 2) ? now : undefined;
    }, 30_000);
    expect(final.map((c) => c.slot).sort()).toEqual([0, 1, 2]);
  }, 150_000);

  it("a rollback rolls under parallelism: never more than 2 slots in flight, and it ends successful at version 3 = version 1's template", async () => {
    const job = "dep-rollback";
    const replicas = 5;
    const parallelism = 2;
    const update = { parallelism };
    await cluster.rollOut(webSpec(job, replicas, 1, update));
    await cluster.rollOut(webSpec(job, replicas, 2, update));

    // In flight, as the update block defines it: a slot whose new copy is placed but not yet healthy for
    // minHealthy, or whose old copy has been told to stop (it is no longer listed as the slot's old
    // version) with no new copy yet. A slot still running its old version, untouched, is waiting.
    const inFlight = (d: DeploymentDetail) => d.slots.filter((s) => !s.canary && !s.healthy && (s.taskId !== null || s.oldVersion === null)).map((s) => s.slot);
    const api = sample(async () => {
      const d = await cluster.deployment(job);
      return d.version === 3 ? { slots: inFlight(d), d } : null;
    });
    // And from the engine: slots with no copy serving at all may be at most `parallelism` too (stop-first).
    const engine = sample(() => cluster.copies(job));
    let rolledBack: { rolledBackTo: number; job: { version: number } };
    let d: DeploymentDetail;
    try {
      rolledBack = await cluster.api("POST", `/v1/namespaces/default/jobs/${job}/rollback`, {});
      d = await cluster.ended(job, 3);
    } finally {
      await Promise.all([api.halt(), engine.halt()]);
    }
    const apiSamples = (await api.stop()).flatMap((s) => (s.value === null ? [] : [{ at: s.at, ...s.value }]));
    const engineSamples = await engine.stop();
    const flights = apiSamples.map((s) => s.slots.length);
    const story = `in flight over time: ${apiSamples.map((s) => `[${s.slots.join(",")}]`).join(" ")}\n${timeline(engineSamples)}\n${show(d)}\n${await cluster.describeJob(job)}`;

    const dark = engineSamples.map((s) => replicas - new Set(serving(s.value).map((c) => c.slot)).size);
    console.log(`${job}: rollback to version 1 as version 3 ${d.status}; at most ${Math.max(...flights)} slots in flight, at most ${Math.max(...dark)} served by nothing`);
    expect(rolledBack.rolledBackTo).toBe(1);
    expect(rolledBack.job.version).toBe(3);
    expect(d.status, story).toBe("successful");
    expect(Math.max(...flights), `more than ${parallelism} slots in flight\n${story}`).toBeLessThanOrEqual(parallelism);
    // The samples did see the rollout move.
    expect(Math.max(...flights), story).toBeGreaterThanOrEqual(1);
    expect(Math.max(...dark), `more than ${parallelism} slots served by nothing at once\n${story}`).toBeLessThanOrEqual(parallelism);
    expect(template(await cluster.versionSpec(job, 3))).toEqual(template(await cluster.versionSpec(job, 1)));
    expect(allAt(await cluster.copies(job), replicas, 3)).toBe(true);
  }, 150_000);

  it("scaling 3 → 10 → 3 keeps the containers of slots 0–2 and makes no new version or deployment", async () => {
    const job = "dep-scale";
    await cluster.rollOut(webSpec(job, 3, 1));
    const bySlot = async () => new Map((await cluster.copies(job)).map((c) => [c.slot, c.id]));
    const first = await bySlot();
    expect([...first.keys()].sort()).toEqual([0, 1, 2]);

    const up = await cluster.api<{ scaled?: { from: number; to: number }; job: { version: number } }>("POST", `/v1/namespaces/default/jobs/${job}/scale`, { replicas: 10 });
    expect(up).toMatchObject({ scaled: { from: 3, to: 10 }, job: { version: 1 } });
    const ten = await cluster.until(job, "10 copies serving", async () => {
      const copies = await cluster.copies(job);
      return allAt(copies, 10, 1) ? new Map(copies.map((c) => [c.slot, c.id])) : undefined;
    }, 60_000);
    for (const slot of [0, 1, 2]) expect(ten.get(slot), `slot ${slot}`).toBe(first.get(slot));

    const down = await cluster.api<{ scaled?: { from: number; to: number } }>("POST", `/v1/namespaces/default/jobs/${job}/scale`, { replicas: 3 });
    expect(down.scaled).toEqual({ from: 10, to: 3 });
    const three = await cluster.until(job, "slots 3–9 stopped", async () => {
      const now = await bySlot();
      return now.size === 3 ? now : undefined;
    }, 60_000);
    expect(three).toEqual(first);
    expect((await cluster.deployments(job)).map((x) => [x.version, x.status])).toEqual([[1, "successful"]]);
  }, 150_000);
});

describe("a deployment with one host cut off mid-rollout", () => {
  const cluster = new DeploymentCluster();
  const nameA = uniqueNode("dep-a");
  const nameB = uniqueNode("dep-b");
  let netns: Netns | undefined;

  beforeAll(async () => {
    netns = await createNetns("dep");
    // A long lease TTL: the cut host's leases must outlast the cut, so its slots are offline (pending),
    // not lost and placed again elsewhere. Heartbeats stay at 1 s: A goes quiet, and not ready, in 2 s.
    // Bound to the host end of the veth: A reaches it over the pair, B and this test over the host's own stack.
    await cluster.start({ heartbeatInterval: "1s", leaseTtl: "60s", sweepInterval: "500ms" }, { host: netns.hostIp });
    await cluster.addAgent(nameB);
  }, 60_000);
  afterAll(async () => {
    await netns?.heal().catch(() => undefined);
    try {
      await cluster.stop();
    } finally {
      await netns?.destroy();
    }
  }, 60_000);

  it("leaves the cut host's slots at their old version and the deployment running past its deadlines; once the host returns they roll and it succeeds", async () => {
    const job = "dep-offline";
    const deadlineMs = 10_000;
    const update = { parallelism: 1, healthyDeadline: "10s", progressDeadline: "10s", offlineDeadline: "5m" };
    // Slots 0 and 1 on B, then 2 and 3 on A (B ineligible meanwhile): with parallelism 1 the rollout
    // starts on B's slots, so cutting A right after the apply finds A's slots untouched.
    // A runs in a network namespace: the check runs in the container (see EXEC_CHECK).
    const health = { health: EXEC_CHECK };
    await cluster.rollOut(webSpec(job, 2, 1, update, health));
    const ns = netns!;
    await cluster.addAgent(nameA, (argv) => ns.wrap(argv));
    const [idA, idB] = [await cluster.nodeId(nameA), await cluster.nodeId(nameB)];
    await cluster.api("POST", `/v1/nodes/${idB}/eligibility`, { eligible: false });
    await cluster.api("POST", `/v1/namespaces/default/jobs/${job}/scale`, { replicas: 4 });
    await cluster.until(job, "slots 2 and 3 serving on A", async () => {
      const onA = await cluster.copies(job, nameA);
      return onA.length === 2 && onA.every((c) => c.serving && c.slot >= 2) ? true : undefined;
    }, 60_000);
    await cluster.api("POST", `/v1/nodes/${idB}/eligibility`, { eligible: true });
    const oldOnA = (await cluster.copies(job, nameA)).map((c) => `${c.slot}:v${c.version}:${c.id}`).sort();
    expect(oldOnA.map((c) => c.split(":").slice(0, 2).join(":"))).toEqual(["2:v1", "3:v1"]);

    await cluster.api("POST", "/v1/jobs", webSpec(job, 4, 2, update, health));
    await ns.cut();
    const cutAt = Date.now();
    const watch = sample(async () => ({ onA: await cluster.copies(job, nameA), d: await cluster.deployment(job) }), 500);
    let bDoneAt = 0;
    let healedAt = 0;
    try {
      // B's slots roll while A is away.
      await cluster.until(job, "slots 0 and 1 at version 2", async () => {
        const d = await cluster.deployment(job);
        return d.version === 2 && d.slots.filter((s) => s.slot <= 1 && !s.canary).every((s) => s.healthy && s.nodeId === idB) ? true : undefined;
      }, 60_000);
      bDoneAt = Date.now();
      // Past both deadlines: the healthy deadline from the cut, the progress deadline from the last slot that settled.
      await sleep(Math.max(cutAt + deadlineMs, bDoneAt + deadlineMs) + 3_000 - Date.now());
    } finally {
      await ns.heal();
      healedAt = Date.now();
      await watch.halt();
    }
    const during = (await watch.stop()).filter((s) => s.at < healedAt);
    const d = await cluster.ended(job, 2, 90_000);
    const story = `cut at 0, B done at +${bDoneAt - cutAt} ms, healed at +${healedAt - cutAt} ms\n${during
      .map((s) => `  +${s.at - cutAt} ms ${s.value.d.version}/${s.value.d.status}: ${s.value.d.description}; A runs ${s.value.onA.map((c) => `${c.slot}:v${c.version}`).join(" ")}`)
      .join("\n")}\n${show(d)}\n${await cluster.describeJob(job)}`;

    console.log(`${job}: B's slots done at +${bDoneAt - cutAt} ms after the cut, healed at +${healedAt - cutAt} ms; then ${d.status}: ${d.description}`);
    // While cut off: A's copies are the very same old-version containers, and the deployment waits.
    for (const s of during) {
      expect(s.value.onA.map((c) => `${c.slot}:v${c.version}:${c.id}`).sort(), `A's copies changed at +${s.at - cutAt} ms\n${story}`).toEqual(oldOnA);
      expect([s.value.d.version, s.value.d.status], `at +${s.at - cutAt} ms\n${story}`).toEqual([2, "running"]);
    }
    const last = during.at(-1)!.value.d;
    expect(last.slots.filter((s) => s.slot >= 2).map((s) => [s.slot, s.oldVersion, s.offline]), story).toEqual([
      [2, 1, true],
      [3, 1, true],
    ]);
    expect(healedAt - cutAt, story).toBeGreaterThan(deadlineMs + 3_000);

    // Back: A's slots roll, and the deployment ends successful with every slot at version 2.
    expect(d.status, story).toBe("successful");
    expect(d.events.map((e) => e.type), story).not.toContain("deployment.failed");
    const final = await cluster.until(job, "all 4 serving at version 2", async () => {
      const now = await cluster.copies(job);
      return allAt(now, 4, 2) ? now : undefined;
    }, 30_000);
    expect(final).toHaveLength(4);
    expect(idA).not.toBe(idB);
  }, 180_000);
});
