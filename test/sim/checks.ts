// The invariants, checked after every step, and the convergence test once faults stop.
// Sources: the store (read on a separate connection) and the simulated agents' own view.
import type { Client } from "@libsql/client";
import type { SimAgent } from "./agent";
import { short } from "./agent";

export interface TaskRow { id: string; jobId: string; slot: number; version: number; nodeId: string | null; state: string; desired: string; epoch: number; leaseExpiresAt: number | null; cpu: number; memory: number }
interface VersionInfo { startFirst: boolean; keep: boolean; replicas: number }
export interface Snapshot {
  tasks: TaskRow[];
  nodes: Map<string, { name: string; cpu: number; memory: number }>;
  jobs: Map<string, { status: string; version: number; replicas: number | null }>;
  versions: Map<string, Map<number, VersionInfo>>;
}

/** An operator request and whether its 200 came back (an unanswered one may or may not have happened). */
export interface LedgerEntry { seq: number; kind: "apply" | "stop" | "delete"; job: string; acked: boolean; version?: number }

const LIVE = new Set(["leased", "running"]);

export async function snapshot(db: Client): Promise<Snapshot> {
  const [t, n, j, v] = await db.batch(
    [
      "SELECT id, job_id, slot, version, node_id, state, desired, epoch, lease_expires_at, cpu, memory FROM tasks ORDER BY id",
      "SELECT id, name, cpu, memory FROM nodes",
      "SELECT id, status, version, replicas FROM jobs",
      "SELECT job_id, version, spec ->> '$.update.order' AS ord, spec ->> '$.disconnect.policy' AS policy, spec ->> '$.replicas' AS replicas FROM job_versions",
    ],
    "read",
  );
  const num = (x: unknown) => (x === null || x === undefined ? null : Number(x));
  const versions = new Map<string, Map<number, VersionInfo>>();
  for (const r of v?.rows ?? []) {
    const job = String(r["job_id"]);
    if (!versions.has(job)) versions.set(job, new Map());
    versions.get(job)?.set(Number(r["version"]), { startFirst: r["ord"] === "start-first", keep: r["policy"] !== "stop", replicas: Number(r["replicas"]) });
  }
  return {
    tasks: (t?.rows ?? []).map((r) => ({ id: String(r["id"]), jobId: String(r["job_id"]), slot: Number(r["slot"]), version: Number(r["version"]), nodeId: r["node_id"] === null ? null : String(r["node_id"]), state: String(r["state"]), desired: String(r["desired"]), epoch: Number(r["epoch"]), leaseExpiresAt: num(r["lease_expires_at"]), cpu: Number(r["cpu"]), memory: Number(r["memory"]) })),
    nodes: new Map((n?.rows ?? []).map((r) => [String(r["id"]), { name: String(r["name"]), cpu: Number(r["cpu"]), memory: Number(r["memory"]) }])),
    jobs: new Map((j?.rows ?? []).map((r) => [String(r["id"]), { status: String(r["status"]), version: Number(r["version"]), replicas: num(r["replicas"]) }])),
    versions,
  };
}

export class Checker {
  private readonly maxEpoch = new Map<string, number>();
  private readonly maxVersion = new Map<string, number>();

  /**
   * The first invariant that does not hold, as [check, detail], or null. `now` is the store's clock (the
   * time source lease expiry is judged by), which may run ahead of virtual time by the instances' skew.
   */
  check(now: number, s: Snapshot, agents: SimAgent[], ledger: LedgerEntry[]): [string, string] | null {
    const info = (job: string, version: number) => s.versions.get(job)?.get(version);
    // Exempt where the operator chose two copies: start-first (either copy's version) or disconnect keep.
    const exempt = (job: string, versions: number[], keepToo: boolean) =>
      versions.some((v) => info(job, v)?.startFirst === true || (keepToo && info(job, v)?.keep === true));

    // 1. One running container per slot of a disconnect-stop job, across every agent (crashed ones too: Docker runs on).
    const running = new Map<string, { where: string; version: number }[]>();
    for (const a of agents) {
      for (const c of a.containers) {
        if (!c.running || c.policy !== "stop") continue;
        const key = `${c.jobId}#${c.slot}`;
        running.set(key, [...(running.get(key) ?? []), { where: `${a.name}:${short(c.taskId)}@${c.epoch}v${c.version}`, version: c.version }]);
      }
    }
    for (const [key, copies] of running) {
      const job = key.slice(0, key.lastIndexOf("#"));
      if (copies.length > 1 && !exempt(job, copies.map((c) => c.version), false)) return ["1 two running copies", `${key}: ${copies.map((c) => c.where).join(", ")}`];
    }

    // 2. One unexpired lease per slot: unexpired in the store, or as its holder was last told.
    const held = new Map<string, Map<string, { where: string; version: number }>>();
    const add = (job: string, slot: number, key: string, where: string, version: number) => {
      const k = `${job}#${slot}`;
      if (!held.has(k)) held.set(k, new Map());
      held.get(k)?.set(key, { where, version });
    };
    for (const t of s.tasks) {
      if (LIVE.has(t.state) && t.nodeId !== null && t.leaseExpiresAt !== null && t.leaseExpiresAt > now) {
        add(t.jobId, t.slot, `${t.id}@${t.epoch}@${t.nodeId}`, `store:${short(t.id)}@${t.epoch} on ${s.nodes.get(t.nodeId)?.name ?? t.nodeId} ${t.state}/${t.desired}`, t.version);
      }
    }
    for (const a of agents) {
      if (a.crashed) continue;
      for (const h of a.held.values()) {
        // A copy it stopped (told to, and reporting it) is no copy: the agent never starts it again. Nor is a
        // `disconnect: stop` lease no heartbeat has renewed yet: the agent starts nothing under it.
        if (h.phase === "stopped" || h.expiresAt === null || h.expiresAt <= now) continue;
        if (h.task.disconnect.policy === "stop" && h.renewedSentAt === null && h.phase === "starting") continue;
        const spec = h.task;
        add(spec.jobId, spec.slot, `${h.taskId}@${h.epoch}@${a.nodeId}`, `${a.name}:${short(h.taskId)}@${h.epoch} told until +${h.expiresAt - now}ms`, spec.version);
      }
    }
    for (const [key, copies] of held) {
      const job = key.slice(0, key.lastIndexOf("#"));
      const list = [...copies.values()];
      if (list.length > 1 && !exempt(job, list.map((c) => c.version), true)) return ["2 two unexpired leases", `${key}: ${list.map((c) => c.where).join(" | ")}`];
    }

    // 3. No node over-committed.
    const used = new Map<string, { cpu: number; memory: number }>();
    for (const t of s.tasks) {
      if (t.nodeId === null || !["placed", "leased", "running"].includes(t.state)) continue;
      const u = used.get(t.nodeId) ?? { cpu: 0, memory: 0 };
      used.set(t.nodeId, { cpu: u.cpu + t.cpu, memory: u.memory + t.memory });
    }
    for (const [nodeId, u] of used) {
      const n = s.nodes.get(nodeId);
      if (n && (u.cpu > n.cpu || u.memory > n.memory)) return ["3 over-committed node", `${n.name}: cpu ${u.cpu}/${n.cpu}, memory ${u.memory}/${n.memory}`];
    }

    // 4. Epochs per task and versions per job only rise (a deleted job starts over).
    for (const t of s.tasks) {
      const before = this.maxEpoch.get(t.id) ?? 0;
      if (t.epoch < before) return ["4 epoch went down", `${short(t.id)}: ${before} -> ${t.epoch}`];
      this.maxEpoch.set(t.id, t.epoch);
    }
    for (const job of this.maxVersion.keys()) if (!s.jobs.has(job)) this.maxVersion.delete(job);
    for (const [job, j] of s.jobs) {
      const before = this.maxVersion.get(job) ?? 0;
      if (j.version < before) return ["4 version went down", `${job}: ${before} -> ${j.version}`];
      this.maxVersion.set(job, j.version);
    }
    return checkLedger(s, ledger);
  }
}

/** 5. Nothing acknowledged is lost: each 200 holds unless a later request (answered or not) may have undone it. */
function checkLedger(s: Snapshot, ledger: LedgerEntry[]): [string, string] | null {
  const later = (e: LedgerEntry, kinds: LedgerEntry["kind"][]) => ledger.some((o) => o.job === e.job && o.seq > e.seq && kinds.includes(o.kind));
  for (const e of ledger) {
    if (!e.acked) continue;
    const job = s.jobs.get(e.job);
    if (e.kind === "apply") {
      if (later(e, ["delete"])) continue;
      if (!job) return ["5 acknowledged apply lost", `${e.job} v${e.version ?? "?"}: job is gone`];
      if (e.version !== undefined && !s.versions.get(e.job)?.has(e.version)) return ["5 acknowledged apply lost", `${e.job}: version ${e.version} missing`];
      if (e.version !== undefined && job.version < e.version) return ["5 acknowledged apply lost", `${e.job}: current version ${job.version} < acknowledged ${e.version}`];
      if (!later(e, ["stop"]) && job.status !== "running") return ["5 acknowledged apply lost", `${e.job}: status ${job.status} after an acknowledged apply`];
    } else if (e.kind === "stop") {
      if (later(e, ["apply", "delete"])) continue;
      if (!job || job.status !== "stopped") return ["5 acknowledged stop lost", `${e.job}: ${job ? `status ${job.status}` : "gone"}`];
    } else if (!later(e, ["apply"]) && job) {
      return ["5 acknowledged delete lost", `${e.job} still exists`];
    }
  }
  return null;
}

/** Why the run is not at its desired state yet (with the job's rows), or null once every job is. */
export function unconverged(s: Snapshot, agents: SimAgent[], now: number): string | null {
  const why = unconvergedJob(s, agents);
  if (why === null) return null;
  const rows = s.tasks
    .filter((t) => t.jobId === why.job && !(t.state === "stopped" && t.desired === "stop"))
    .map((t) => `#${t.slot} v${t.version} ${short(t.id)}@${t.epoch} ${t.state}/${t.desired} on ${t.nodeId ? (s.nodes.get(t.nodeId)?.name ?? "?") : "-"}${t.leaseExpiresAt !== null ? ` expiry ${t.leaseExpiresAt - now >= 0 ? "+" : ""}${t.leaseExpiresAt - now}ms` : ""}`);
  const job = s.jobs.get(why.job);
  return `${why.reason} [job ${job ? `${job.status} v${job.version}` : "gone"}; rows: ${rows.join("; ") || "none"}]`;
}

function unconvergedJob(s: Snapshot, agents: SimAgent[]): { job: string; reason: string } | null {
  const r = (job: string, reason: string) => ({ job, reason });
  const copies = new Map<string, { agent: SimAgent; epoch: number; version: number; slot: number; taskId: string }[]>();
  for (const a of agents) {
    for (const c of a.containers) {
      if (!c.running) continue;
      copies.set(c.jobId, [...(copies.get(c.jobId) ?? []), { agent: a, epoch: c.epoch, version: c.version, slot: c.slot, taskId: c.taskId }]);
    }
  }
  for (const [jobId, list] of copies) {
    const job = s.jobs.get(jobId);
    if (!job || job.status !== "running") return r(jobId, `${jobId} (${job ? job.status : "deleted"}) still has ${list.length} running`);
  }
  for (const [jobId, job] of s.jobs) {
    if (job.status !== "running") continue;
    // The job's own count (a scale writes no version), else its version's.
    const replicas = job.replicas ?? s.versions.get(jobId)?.get(job.version)?.replicas ?? 0;
    const list = copies.get(jobId) ?? [];
    for (let slot = 0; slot < replicas; slot++) {
      const here = list.filter((c) => c.slot === slot);
      if (here.length !== 1) return r(jobId, `${jobId}#${slot}: ${here.length} running copies`);
      const c = here[0];
      if (!c || c.version !== job.version) return r(jobId, `${jobId}#${slot}: runs v${c?.version ?? "?"}, want v${job.version}`);
      const row = s.tasks.find((t) => t.id === c.taskId);
      if (!row || row.state !== "running" || row.epoch !== c.epoch || row.nodeId !== c.agent.nodeId || row.desired !== "run") {
        return r(jobId, `${jobId}#${slot}: store has ${row ? `${row.state}/${row.desired}@${row.epoch}` : "no row"} for ${c.agent.name}@${c.epoch}`);
      }
    }
    const extra = list.filter((c) => c.slot >= replicas);
    if (extra.length > 0) return r(jobId, `${jobId}: ${extra.length} running beyond ${replicas} replicas`);
  }
  return null;
}
