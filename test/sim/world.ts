// The simulated world: virtual time, an event queue, the instances, the agents and the network between
// them. Everything random comes from the seed; the only real concurrency is inside one step, and each
// step waits for the control plane's background work (settled) before the next begins.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@libsql/client";
import type { JWK } from "jose";
import type { ClaimResponse, EnrollResponse, HeartbeatResponse, TaskReport } from "../../api/agent-protocol";
import { openDatabase } from "../../db/client";
import { migrateDatabase } from "../../db/migrate";
import { createStore } from "../../db/store";
import { generateSigningKey, type SigningKeys } from "../../worker/auth/keys";
import { bootstrap } from "../../worker/bootstrap";
import { parseConfig, type Config } from "../../worker/config";
import { short, SimAgent } from "./agent";
import { Checker } from "./checks";
import { Instance, VirtualTime, type Reply } from "./instances";
import { Operator } from "./operator";
import { snapshot } from "./snapshot";
import { Rng } from "./rng";
import { Trace, Violation } from "./trace";

export const HEARTBEAT_MS = 1_000;
export const TTL_MS = 3_000;
export const SWEEP_MS = 500;
export const AGENT_STEP_MS = 250;
/** A request not answered in this long is given up (the agent sends the next one). */
const REQUEST_TIMEOUT_MS = 2_000;

export interface Partition {
  until: number;
  out: boolean;
  in: boolean;
  /** Cut from this instance only (both ways), or null for every instance. */
  instance: number | null;
}

interface Event {
  at: number;
  seq: number;
  label: string;
  run: () => Promise<void>;
}

/** Real time one step may take: past it the control plane is stuck (a request or tick that never ends). */
const STEP_WALL_LIMIT_MS = 20_000;

export class World {
  readonly time = new VirtualTime();
  readonly start: number;
  readonly queue: Event[] = [];
  private eventSeq = 0;
  private incarnations = 0;
  readonly partitions = new Map<SimAgent, Partition>();
  slowUntil = 0;
  dupProb = 0.05;
  healed = false;
  readonly skews: number[];
  readonly instances: Instance[] = [];
  readonly agents: SimAgent[] = [];
  readonly logs: string[] = [];
  readonly net: Rng;
  readonly faults: Rng;
  readonly checker = new Checker();
  operator!: Operator;
  /** The fleet's regions: agent i enrolls in regions[i % length] ("global", the default, when there is one). */
  regions: string[] = ["global"];
  private joinToken = "";
  private dirty = false;
  /** The store's clock as last read by the checks (see check). */
  private leaseNow = Number.NEGATIVE_INFINITY;
  private readonly handledCrashes = new Set<Instance>();

  private constructor(
    readonly seed: number,
    readonly rng: Rng,
    readonly trace: Trace,
    readonly dir: string,
    readonly db: Client,
    readonly keys: SigningKeys,
    readonly config: Config,
  ) {
    this.start = this.time.now;
    this.net = rng.fork(1);
    this.faults = rng.fork(2);
    this.skews = [];
  }

  static async create(seed: number, trace: Trace, withOrder: boolean): Promise<World> {
    const dir = mkdtempSync(join(tmpdir(), "leasehold-sim-"));
    const db = await openDatabase({ dataDir: dir });
    await migrateDatabase(db);
    const { keys } = await generateSigningKey();
    const config = parseConfig({ heartbeatInterval: `${HEARTBEAT_MS}ms`, leaseTtl: `${TTL_MS}ms`, sweepInterval: `${SWEEP_MS}ms` });
    const w = new World(seed, new Rng(seed), trace, dir, db, keys, config);
    const adminToken = await bootstrap(createStore(db), keys, { now: () => w.time.now }, config.tokenTtl);
    if (!adminToken) throw new Error("bootstrap issued no admin token");
    const instances = w.rng.int(2, 3);
    for (let i = 0; i < instances; i++) {
      w.skews.push(0);
      w.instances.push(await w.openInstance(i));
    }
    const agents = w.rng.int(4, 7);
    // Half the fleets span two regions, so deployments can roll in region waves.
    if (w.rng.chance(0.5)) w.regions = ["eu-west", "us-east"];
    w.operator = new Operator(w.rng.fork(3), adminToken, { withOrder, regions: w.regions }, (who, what) => w.step(who, what));
    const joined = await w.instances[0]?.request("POST", "/v1/join-tokens", adminToken, {});
    w.joinToken = (joined?.body as { token: string }).token;
    for (let i = 0; i < agents; i++) {
      const reply = await w.instances[0]?.request("POST", "/v1/agent/enroll", null, w.enrollBody(i));
      if (reply?.status !== 200) throw new Error(`enroll failed: ${JSON.stringify(reply)}`);
      const e = reply.body as EnrollResponse;
      const name = `a${i}`;
      w.agents.push(new SimAgent(name, { nodeId: e.nodeId, credential: e.credential, jwks: e.jwks as { keys: JWK[] } }, w.rng.fork(10 + i), w.time.now, (what) => w.step(name, what)));
    }
    return w;
  }

  get now(): number {
    return this.time.now;
  }

  private enrollBody(index: number, previousCredential?: string): Record<string, unknown> {
    // Capacity: any 2 of the nodes hold every copy the jobs can have at once (4 jobs x (4 replicas + 2
    // canaries + 3 start-first overlaps) x 500m / 256 MiB, 18 a node), and one node a wave's canaries, so
    // two nodes out of service (never a region's last, see operator.ts) never leave a copy without room.
    const region = this.regions.length > 1 ? { region: this.regions[index % this.regions.length] } : {};
    return { token: this.joinToken, name: `n${index}`, ...region, capacity: { cpu: 16_000, memory: 16_384 }, agentVersion: "sim", ...(previousCredential ? { previousCredential } : {}) };
  }

  /** The nodes as the operator names them. */
  nodes(): { id: string; name: string; region: string }[] {
    return this.agents.map((a, i) => ({ id: a.nodeId, name: a.name, region: this.regions[i % this.regions.length] ?? "global" }));
  }

  async openInstance(slot: number): Promise<Instance> {
    return Instance.open({ name: `i${slot}`, dataDir: this.dir, keys: this.keys, config: this.config, time: this.time, skewMs: this.skews[slot] ?? 0, ids: new Rng(this.seed, 1_000 + this.incarnations++), logs: this.logs, onWait: (instance, nodeId, ms) => {
        this.time.now += ms;
        this.step(instance, `claim of ${short(nodeId)} long-polled ${ms}ms though sent waitMs 0`);
      } });
  }

  /** Records a step of the trace; any step makes the next check run. */
  step(who: string, what: string): void {
    this.dirty = true;
    this.trace.step(this.now - this.start, who, what);
  }

  at(when: number, run: () => Promise<void>, label = "event"): void {
    const e: Event = { at: when, seq: this.eventSeq++, label, run };
    // Sorted by (time, insertion): ties resolve in the order they were scheduled, so a seed replays.
    let i = this.queue.length;
    while (i > 0 && (this.queue[i - 1] as Event).at > e.at) i--;
    this.queue.splice(i, 0, e);
  }

  every(first: number, period: () => number, run: () => Promise<boolean>, label: string): void {
    const go = async () => {
      if (await run()) this.at(this.now + period(), go, label);
    };
    this.at(first, go, label);
  }

  /** Runs the next event, then notices crashed instances and runs the checks if anything happened. */
  async next(): Promise<boolean> {
    const e = this.queue.shift();
    if (!e) return false;
    this.time.now = Math.max(this.time.now, e.at);
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<"stuck">((resolve) => (timer = setTimeout(() => resolve("stuck"), STEP_WALL_LIMIT_MS)));
    const outcome = await Promise.race([e.run().then(() => "ran" as const), stuck]);
    clearTimeout(timer);
    if (outcome === "stuck") throw new Violation(this.seed, "liveness", `${e.label} did not finish in ${STEP_WALL_LIMIT_MS / 1000}s of real time`, this.trace.tail());
    for (const [slot, inst] of this.instances.entries()) {
      if (!inst.crashed || this.handledCrashes.has(inst)) continue;
      this.handledCrashes.add(inst);
      this.step(inst.name, `CRASH ${inst.crashNote}`);
      this.at(this.now + (this.healed ? 0 : this.faults.int(1_000, 3_000)), () => this.replace(slot), `replace i${slot}`);
    }
    if (this.dirty) {
      this.dirty = false;
      // Expiry is judged in the store's clock, the time source leases are decided by: as the fastest live
      // instance reads it (an instance with a skewed clock follows the fastest one; see store-clock.ts).
      const live = this.instances.filter((i) => !i.crashed);
      // The store's clock never reads backwards, whichever instances are alive to read it.
      this.leaseNow = Math.max(this.leaseNow, this.now, ...live.map((i) => i.cp.deps.clock.now()));
      const leaseNow = this.leaseNow;
      // The latest clock any instance may have decided by, a crashed one's too (its last plan may have landed).
      const decidedBy = Math.max(leaseNow, ...this.instances.map((i) => i.cp.deps.clock.now()));
      const found = this.checker.check(leaseNow, decidedBy, await snapshot(this.db), this.agents, this.operator.ledger);
      if (found) throw new Violation(this.seed, found[0], found[1], this.trace.tail());
    }
    return true;
  }

  async replace(slot: number): Promise<void> {
    const old = this.instances[slot];
    if (!old || !old.crashed) return;
    old.close();
    this.instances[slot] = await this.openInstance(slot);
    this.step(`i${slot}`, `replaced (fresh instance on the same file, skew ${this.skews[slot]}ms)`);
  }

  private cut(agent: SimAgent, slot: number, dir: "out" | "in"): boolean {
    const p = this.partitions.get(agent);
    if (!p || p.until <= this.now) return false;
    return p.instance !== null ? p.instance === slot : dir === "out" ? p.out : p.in;
  }

  private delay(): number {
    return this.now < this.slowUntil ? this.net.int(0, 400) : this.net.int(0, 20);
  }

  /** One agent request over the simulated network: it may be dropped, delayed, duplicated, or its reply lost. */
  send(agent: SimAgent, kind: string, path: string, body: unknown, onReply: (r: Reply) => Promise<void>): void {
    const slot = this.net.int(0, this.instances.length - 1);
    const gen = agent.generation;
    const credential = agent.credential;
    if (this.cut(agent, slot, "out")) return this.step(agent.name, `${kind} → i${slot} lost (partition)`);
    const copies = !this.healed && this.net.chance(this.dupProb) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      const label = `${agent.name} ${kind}${copy ? " (duplicate)" : ""} at i${slot}`;
      this.at(this.now + this.delay() + copy * this.net.int(50, 600), async () => {
        const inst = this.instances[slot] as Instance;
        if (inst.crashed) return this.step(inst.name, `${label}: refused, instance down`);
        const reply = await inst.request("POST", path, kind === "enroll" ? null : credential, body);
        this.step(inst.name, `${label} → ${reply ? summarize(kind, reply) : "no reply (crashed)"}`);
        if (!reply) return;
        if (this.cut(agent, slot, "in")) return this.step(agent.name, `reply to ${kind} lost (partition)`);
        const replies = !this.healed && this.net.chance(this.dupProb) ? 2 : 1;
        for (let r = 0; r < replies; r++) {
          this.at(this.now + this.delay() + r * this.net.int(50, 400), async () => {
            if (agent.generation !== gen || agent.crashed) return;
            await onReply(reply);
          }, `reply to ${label}`);
        }
      }, label);
    }
  }

  /** An agent's timer: reconcile, then heartbeat and claim when due. */
  async agentStep(a: SimAgent): Promise<void> {
    if (a.crashed) return;
    const now = this.now;
    a.reconcile(now);
    if (a.heartbeatOut && now - a.heartbeatOut.sentAt > REQUEST_TIMEOUT_MS) a.heartbeatOut = null;
    if (a.claimOut && now - a.claimOut.sentAt > REQUEST_TIMEOUT_MS) a.claimOut = null;
    if (a.needsEnroll) {
      a.needsEnroll = false;
      this.send(a, "enroll", "/v1/agent/enroll", this.enrollBody(Number(a.name.slice(1)), a.credential), async (r) => {
        if (r.status === 200) a.reenrolled((r.body as EnrollResponse).nodeId, (r.body as EnrollResponse).credential);
        else a.needsEnroll = true;
      });
    }
    if (!a.heartbeatOut && now >= a.nextHeartbeat) {
      const reports: TaskReport[] = a.reports();
      const out = { id: this.eventSeq, sentAt: now, reports };
      a.heartbeatOut = out;
      // Up to 10% early, as the real agent jitters (timing.ts).
      a.nextHeartbeat = now + Math.round(a.interval * (0.9 + 0.1 * this.net.next()));
      this.send(a, "heartbeat", "/v1/agent/heartbeat", { tasks: reports }, async (r) => {
        if (a.heartbeatOut !== out) return;
        a.heartbeatOut = null;
        if (r.status === 200) await a.onHeartbeat(r.body as HeartbeatResponse, reports, this.now, out.sentAt);
        else if (r.status === 401) a.needsEnroll = true;
      });
    }
    if (!a.claimOut && now >= a.nextClaim) {
      const out = { id: this.eventSeq, sentAt: now };
      a.claimOut = out;
      a.nextClaim = now + a.interval;
      this.send(a, "claim", "/v1/agent/claim", { waitMs: 0 }, async (r) => {
        if (a.claimOut !== out) return;
        a.claimOut = null;
        if (r.status === 200) await a.onClaim(r.body as ClaimResponse, this.now);
      });
    }
  }

  close(): void {
    for (const i of this.instances) {
      try {
        i.close();
      } catch {
        // Already closed after a crash.
      }
    }
    this.db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function summarize(kind: string, r: Reply): string {
  if (r.status !== 200) {
    const b = r.body as { detail?: string } | null;
    return `${r.status} ${(b?.detail ?? "").slice(0, 100)}`;
  }
  if (kind === "heartbeat") {
    const b = r.body as HeartbeatResponse;
    const revoked = b.revoked.map((x) => `${short(x.taskId)}@${x.epoch}:${x.reason}`).join(",");
    return `200 renewed ${b.renewed.map((x) => `${short(x.taskId)}@${x.epoch}`).join(",") || "-"}${revoked ? ` revoked ${revoked}` : ""}${b.work ? " work" : ""}`;
  }
  if (kind === "claim") return `200 leases ${(r.body as ClaimResponse).leases.map((l) => `${short(l.taskId)}@${l.epoch}`).join(",") || "-"}`;
  return `200 node ${short((r.body as EnrollResponse).nodeId)}`;
}
