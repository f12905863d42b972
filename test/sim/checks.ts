// The invariants, checked after every step: fencing (1, 2), capacity (3), monotonic epochs and versions (4),
// the ledger (5, ledger.ts) and the rollout rules (6-8, rollout-checks.ts). Sources: the store (read on a
// separate connection) and the simulated agents' own view. Convergence, once faults stop, is converge.ts.
import type { SimAgent } from "./agent";
import { short } from "./agent";
import { checkLedger, type LedgerEntry } from "./ledger";
import { RolloutChecker, type RolloutCoverage } from "./rollout-checks";
import type { Snapshot } from "./snapshot";

const LIVE = new Set(["leased", "running"]);

export class Checker {
  private readonly maxEpoch = new Map<string, number>();
  private readonly maxVersion = new Map<string, number>();
  private readonly rollouts = new RolloutChecker();

  get coverage(): RolloutCoverage {
    return this.rollouts.coverage;
  }

  /**
   * The first invariant that does not hold, as [check, detail], or null. `now` is the store's clock (the
   * time source lease expiry is judged by), which may run ahead of virtual time by the instances' skew;
   * `decidedBy` the latest clock any instance may have decided by (see World.next).
   */
  check(now: number, decidedBy: number, s: Snapshot, agents: SimAgent[], ledger: readonly LedgerEntry[]): [string, string] | null {
    return this.fencing(now, s, agents) ?? this.rollouts.check(s, decidedBy) ?? checkLedger(s, ledger);
  }

  private fencing(now: number, s: Snapshot, agents: SimAgent[]): [string, string] | null {
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
        if (h.phase === "stopped" || h.phase === "failed" || h.expiresAt === null || h.expiresAt <= now) continue;
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
    return null;
  }
}
