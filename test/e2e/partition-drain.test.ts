// End to end on real Docker: an agent cut off in its own network namespace, then drained; a `disconnect: stop` singleton never runs twice.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABELS } from "../../agent/runtime/labels";
import type { Task } from "../../cli/api-types";
import { cleanupNode, eventually, requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";
import { createNetns, type Netns } from "../support/netns";

const SAMPLE_EVERY_MS = 100;
/** How long after the cut the replacement may take to run on B: lease TTL 3 s + fence window (2 s + 0.5 s + 5 s) + placement. */
const TAKEOVER_BOUND_MS = 20_000;
/** The drain comes this long after the cut: inside the 2 s disconnect bound, so A still runs its copy. */
const DRAIN_AFTER_CUT_MS = 900;

interface Proc {
  proc: ChildProcess;
  output: string[];
}

interface Running {
  id: string;
  node: string;
  epoch: string;
}

interface Sample {
  /** ms since the cut */
  at: number;
  running: Running[];
}

interface Outcome {
  samples: Sample[];
  drainAt: number | null;
  healAt: number;
  reconnectedAt: number | null;
  /** First sample with the replacement running on B, ms since the cut. */
  takeoverAt: number | null;
  /** First sample with A's copy no longer running, ms since the cut. */
  aStoppedAt: number | null;
  /** The job's tasks and events as the API shows them at the end, for failure messages. */
  api: string;
}

interface NodeInfo {
  id: string;
  name: string;
  state: string;
  lastHeartbeatAt: number | null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function track(proc: ChildProcess): Proc {
  const output: string[] = [];
  proc.stdout?.on("data", (d: Buffer) => output.push(d.toString()));
  proc.stderr?.on("data", (d: Buffer) => output.push(d.toString()));
  return { proc, output };
}

async function stopProc(p: Proc | undefined): Promise<void> {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.proc.once("exit", () => r()));
  p.proc.kill("SIGTERM");
  // An agent stuck on a dropped connection must not hold up the cleanup.
  const timer = setTimeout(() => p.proc.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Spans (ms since the cut) in which two or more copies ran at once; an open span ends at the last sample. */
function overlaps(samples: Sample[]): { from: number; to: number; ms: number }[] {
  const spans: { from: number; to: number; ms: number }[] = [];
  let from: number | null = null;
  for (const s of samples) {
    if (s.running.length >= 2 && from === null) from = s.at;
    if (s.running.length < 2 && from !== null) {
      spans.push({ from, to: s.at, ms: s.at - from });
      from = null;
    }
  }
  const last = samples.at(-1);
  if (from !== null && last) spans.push({ from, to: last.at, ms: last.at - from });
  return spans;
}

/** The samples as a list of changes, short enough for an assertion message. */
function timeline(samples: Sample[], names: Map<string, string>): string {
  const lines: string[] = [];
  let prev = "";
  for (const s of samples) {
    const now = s.running.map((r) => `${names.get(r.node) ?? r.node}(epoch ${r.epoch}, ${r.id.slice(0, 12)})`).sort().join(" + ") || "none";
    if (now !== prev) lines.push(`  +${s.at} ms: ${now}`);
    prev = now;
  }
  return lines.join("\n");
}

describe("a singleton `disconnect: stop` job on an agent that is cut off, then drained", () => {
  const nameA = uniqueNode("pd-a");
  const nameB = uniqueNode("pd-b");
  const names = new Map([
    [nameA, "A"],
    [nameB, "B"],
  ]);
  let docker: Dockerode;
  let netns: Netns | undefined;
  let dir = "";
  let cp: Proc | undefined;
  let agentA: Proc | undefined;
  let agentB: Proc | undefined;
  let url = "";
  let token = "";
  let idA = "";
  let idB = "";

  async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const data = (await res.json()) as T;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
    return data;
  }

  const node = async (id: string) => (await api<{ node: NodeInfo }>("GET", `/v1/nodes/${id}`)).node;

  const logs = () =>
    [`--- agent A ---`, agentA?.output.join("").slice(-3_000) ?? "", `--- agent B ---`, agentB?.output.join("").slice(-3_000) ?? "", `--- control plane ---`, cp?.output.join("").slice(-3_000) ?? ""].join("\n");

  async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
    try {
      return await eventually(probe, timeoutMs, what);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${logs()}`);
    }
  }

  function startControlPlane(host: string): Promise<{ url: string; adminToken: string | null }> {
    const p = track(spawn(process.execPath, ["--import", "tsx", "test/support/cp-process.ts", join(dir, "cp"), "1s", "3s", host], { stdio: ["ignore", "pipe", "pipe"] }));
    cp = p;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`control plane did not start: ${p.output.join("")}`)), 30_000);
      // The first stdout line is the launcher's {url, adminToken}; the rest of its output is kept for failures.
      createInterface({ input: p.proc.stdout! }).once("line", (line) => {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { url: string; adminToken: string | null });
      });
      p.proc.once("exit", (code) => reject(new Error(`control plane exited with ${code}: ${p.output.join("")}`)));
    });
  }

  async function startAgent(name: string, wrap: (argv: string[]) => string[]): Promise<Proc> {
    const { token: joinToken } = await api<{ token: string }>("POST", "/v1/join-tokens", {});
    const [cmd, ...args] = wrap([process.execPath, "cli/bin.js", "agent", "--server", url, "--join-token", joinToken, "--name", name, "--region", "local", "--data-dir", join(dir, `agent-${name}`), "--mesh-port", "0"]);
    return track(spawn(cmd!, args, { stdio: ["ignore", "pipe", "pipe"] }));
  }

  async function nodeReady(name: string): Promise<string> {
    return waitFor(`node ${name} ready`, async () => {
      const { nodes } = await api<{ nodes: NodeInfo[] }>("GET", "/v1/nodes");
      return nodes.find((n) => n.name === name && n.state === "ready")?.id;
    }, 30_000);
  }

  const jobSelector = (job: string) => `${LABELS.job}=default/${job}`;

  async function runningCopies(job: string): Promise<Running[]> {
    const rows = await docker.listContainers({ filters: { label: [jobSelector(job)], status: ["running"] } });
    return rows.map((r) => ({ id: r.Id, node: r.Labels[LABELS.node] ?? "?", epoch: r.Labels[LABELS.epoch] ?? "?" }));
  }

  beforeAll(async () => {
    docker = await requireDocker();
    dir = mkdtempSync(join(tmpdir(), "leasehold-partition-"));
    netns = await createNetns("pd");
    // Bound to the host end of the veth: A reaches it over the pair, B and this test over the host's own stack.
    const info = await startControlPlane(netns.hostIp);
    url = info.url;
    if (!info.adminToken) throw new Error("the control plane printed no admin token");
    token = info.adminToken;
    const ns = netns;
    agentA = await startAgent(nameA, (argv) => ns.wrap(argv));
    agentB = await startAgent(nameB, (argv) => argv);
    [idA, idB] = await Promise.all([nodeReady(nameA), nodeReady(nameB)]);
  }, 60_000);

  afterAll(async () => {
    await netns?.heal().catch(() => undefined);
    await Promise.all([stopProc(agentA), stopProc(agentB)]);
    await stopProc(cp);
    if (docker) await Promise.all([cleanupNode(nameA, docker), cleanupNode(nameB, docker)]);
    await netns?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** Tasks and events of `job`, times relative to the cut: what the control plane thought happened. */
  async function describeJob(job: string, cutAt: number): Promise<string> {
    try {
      const { tasks } = await api<{ tasks: Task[] }>("GET", `/v1/namespaces/default/jobs/${job}`);
      const { events } = await api<{ events: { at: number; type: string; message: string }[] }>("GET", `/v1/namespaces/default/jobs/${job}/events`);
      const nodeName = (id: string | null) => (id === idA ? "A" : id === idB ? "B" : String(id));
      return [
        "tasks:",
        ...tasks.map((t) => `  ${t.id.slice(0, 8)} slot ${t.slot} epoch ${t.epoch} on ${nodeName(t.nodeId)}: ${t.state}, desired ${t.desired}${t.message ? ` (${t.message})` : ""}`),
        "events:",
        // The API lists newest first; oldest first reads as a story.
        ...[...events].sort((x, y) => x.at - y.at).map((e) => `  +${e.at - cutAt} ms ${e.type}: ${e.message}`),
      ].join("\n");
    } catch (error) {
      return `(the job could not be read: ${String(error)})`;
    }
  }

  /**
   * Places `job` on A (B ineligible meanwhile), makes B eligible, cuts A off, optionally drains A
   * 0.9 s later, and samples Docker every 100 ms through the takeover, the heal and a few seconds after.
   */
  async function scenario(job: string, drain: { deadline?: string } | null): Promise<Outcome> {
    // A clean start whatever the previous case left: link up, A eligible and not draining, connected.
    await netns!.heal();
    await api("POST", `/v1/nodes/${idA}/eligibility`, { eligible: true });
    await waitFor("A connected", async () => ((await node(idA)).state === "ready" ? true : undefined), 30_000);
    await api("POST", `/v1/nodes/${idB}/eligibility`, { eligible: false });
    await api("POST", "/v1/jobs", {
      name: job,
      replicas: 1,
      image: TEST_IMAGE,
      command: ["sleep", "3600"],
      resources: { cpu: 50, memory: 16 },
      disconnect: { policy: "stop", after: "2s" },
      // sleep as PID 1 ignores SIGTERM: a short grace keeps each stop quick.
      stopGrace: "500ms",
    });
    await waitFor(`${job} running in Docker on A`, async () => {
      const copies = await runningCopies(job);
      const { tasks } = await api<{ tasks: Task[] }>("GET", `/v1/namespaces/default/jobs/${job}`);
      return copies.length === 1 && copies[0]!.node === nameA && tasks.some((t) => t.state === "running" && t.nodeId === idA) ? true : undefined;
    }, 30_000);
    await api("POST", `/v1/nodes/${idB}/eligibility`, { eligible: true });

    // Absolute times while sampling; made relative to the cut once it is known.
    const raw: { t: number; running: Running[] }[] = [];
    let cutAt = Number.POSITIVE_INFINITY;
    const sinceCut = () => Date.now() - cutAt;
    let sampling = true;
    let samplerError: unknown = null;
    const sampler = (async () => {
      while (sampling) {
        const started = Date.now();
        const running = await runningCopies(job);
        raw.push({ t: Date.now(), running });
        await sleep(Math.max(0, SAMPLE_EVERY_MS - (Date.now() - started)));
      }
    })().catch((error: unknown) => {
      // Kept and rethrown below: a sampler that died would otherwise read as "never two copies".
      samplerError = error;
    });

    let drainAt: number | null = null;
    let healAt = 0;
    let reconnectedAt: number | null = null;
    // Cut, maybe drain, watch the takeover; the link is healed however that goes.
    const partition = async () => {
      try {
        // A baseline before the cut shows the sampler sees A's copy.
        await sleep(300);
        cutAt = Date.now();
        await netns!.cut();
        if (drain) {
          await sleep(DRAIN_AFTER_CUT_MS - sinceCut());
          drainAt = sinceCut();
          await api("POST", `/v1/nodes/${idA}/drain`, { enable: true, ...(drain.deadline === undefined ? {} : { deadline: drain.deadline }) });
        }
        // Until B runs the replacement and A's copy has been gone a moment (or the bound passes): the whole overlap, if any, is in the samples.
        const deadline = cutAt + TAKEOVER_BOUND_MS;
        while (Date.now() < deadline) {
          const recent = raw.filter((s) => s.t >= Date.now() - 1_500);
          const bRunning = raw.some((s) => s.running.some((r) => r.node === nameB));
          if (bRunning && recent.length >= 5 && recent.every((s) => s.running.every((r) => r.node !== nameA))) break;
          await sleep(SAMPLE_EVERY_MS);
        }
      } finally {
        await netns!.heal();
        healAt = sinceCut();
      }
    };
    // The sampler stops however this goes.
    try {
      await partition();
      // A reconnects (the dropped request times out, the next one goes through) and must not start its copy again.
      reconnectedAt = await eventually(async () => {
        const n = await node(idA);
        return n.lastHeartbeatAt !== null && n.lastHeartbeatAt > cutAt + healAt ? sinceCut() : undefined;
      }, 20_000, "A reconnected").catch(() => null);
      // At least 5 s after the heal and 3 s after the reconnect; up to 10 s after the heal while A still runs its copy.
      const until = cutAt + Math.max(healAt + 5_000, (reconnectedAt ?? healAt) + 3_000);
      const aRunning = () => raw.at(-1)?.running.some((r) => r.node === nameA) ?? false;
      while (Date.now() < until || (aRunning() && sinceCut() < healAt + 10_000)) await sleep(SAMPLE_EVERY_MS);
    } finally {
      sampling = false;
      await sampler;
    }
    if (samplerError) throw new Error(`sampling docker ps failed: ${String(samplerError)}`, { cause: samplerError });
    const samples: Sample[] = raw.map((s) => ({ at: s.t - cutAt, running: s.running }));
    const takeoverAt = samples.find((s) => s.at >= 0 && s.running.some((r) => r.node === nameB))?.at ?? null;
    const aStoppedAt = samples.find((s) => s.at >= 0 && s.running.every((r) => r.node !== nameA))?.at ?? null;
    return { samples, drainAt, healAt, reconnectedAt, takeoverAt, aStoppedAt, api: await describeJob(job, cutAt) };
  }

  /** The assertions every case shares; the overlap, if any, is in the first message. */
  function check(job: string, o: Outcome): void {
    const spans = overlaps(o.samples);
    const worst = spans.reduce((m, s) => Math.max(m, s.ms), 0);
    const where = `${job}: drain at ${o.drainAt === null ? "-" : `+${o.drainAt} ms`}, heal at +${o.healAt} ms, A reconnected at ${o.reconnectedAt === null ? "never" : `+${o.reconnectedAt} ms`}, B took over at ${o.takeoverAt === null ? "never" : `+${o.takeoverAt} ms`}, A's copy stopped at ${o.aStoppedAt === null ? "never" : `+${o.aStoppedAt} ms`} (ms after the cut)`;
    console.log(`${where}; overlap ${worst} ms`);
    const story = `${where}\ntimeline:\n${timeline(o.samples, names)}\n${o.api}`;
    expect(o.samples.some((s) => s.at < 0 && s.running.some((r) => r.node === nameA)), `the sampler never saw A's copy before the cut\n${story}`).toBe(true);
    // A sampler that stalled could miss an overlap: no gap may be much longer than the period.
    const gaps = o.samples.slice(1).map((s, i) => s.at - o.samples[i]!.at);
    expect(Math.max(...gaps), `the sampler stalled\n${story}`).toBeLessThan(1_000);
    expect(spans.map((s) => `two copies ran at once for ${s.ms} ms (from +${s.from} to +${s.to} ms after the cut)`), `never two running copies of the singleton\n${story}`).toEqual([]);
    expect(o.takeoverAt, `the replacement never ran on B within ${TAKEOVER_BOUND_MS} ms\n${story}\n${logs()}`).not.toBeNull();
    expect(o.reconnectedAt, `A did not reconnect after the heal\n${story}\n${logs()}`).not.toBeNull();
    const onA = (s: Sample) => s.running.some((r) => r.node === nameA);
    // Once gone, A's copy stays gone: not restarted by A's supervisor, nor started again when A is back.
    const again = o.aStoppedAt === null ? [] : o.samples.filter((s) => s.at > o.aStoppedAt! && onA(s));
    expect(again.map((s) => s.at), `A's copy ran again after it had stopped\n${story}`).toEqual([]);
    const lingering = o.samples.filter((s) => s.at > o.healAt + 10_000 && onA(s));
    expect(lingering.map((s) => s.at), `A's copy still ran 10 s after the heal\n${story}`).toEqual([]);
    expect(o.samples.at(-1)?.running.map((r) => r.node), `the job did not settle on B alone\n${story}`).toEqual([nameB]);
  }

  it("cut off only: the replacement starts after the lease and fence window lapse, never beside A's copy", async () => {
    const job = "pd-partition";
    const o = await scenario(job, null);
    await api("POST", `/v1/namespaces/default/jobs/${job}/stop`).catch(() => undefined);
    check(job, o);
    // The lost path drove it: the lease was last renewed at most ~1 s before the cut, and a `stop` job's
    // lease lasts max(TTL 3 s, fence window = after 2 s + stopGrace 0.5 s + margin 5 s) from a renewal.
    expect(o.takeoverAt!, `took over before the lease and fence window could have lapsed\n${timeline(o.samples, names)}\n${o.api}`).toBeGreaterThan(6_000);
  }, 60_000);

  it("drained with deadline 0s 0.9 s after the cut: the task still waits for the fence, never two copies", async () => {
    const job = "pd-drain-now";
    const o = await scenario(job, { deadline: "0s" });
    await api("POST", `/v1/namespaces/default/jobs/${job}/stop`).catch(() => undefined);
    check(job, o);
  }, 60_000);

  it("drained with the default deadline 0.9 s after the cut: never two copies", async () => {
    const job = "pd-drain-default";
    const o = await scenario(job, {});
    await api("POST", `/v1/namespaces/default/jobs/${job}/stop`).catch(() => undefined);
    check(job, o);
  }, 60_000);
});
