// A simulated agent: the real agent's lease rules (verify the lease and its payload, fence, self-fence,
// adopt after restart) over an in-memory container set that outlives the agent process, as Docker's does.
//
// A task's outcome is read from its spec: a version whose env sets OUTCOME_ENV is one the operator made bad.
// "fail": its start fails (as an image that cannot be pulled), reported failed once, with no restart (as a
// restart policy with no attempts left). "unhealthy": it runs, but reports unhealthy, as a health check that
// never passes under onFailure: ignore. Any other task starts and runs, with no health check.
import type { JWK } from "jose";
import type { ClaimResponse, HeartbeatResponse, LeaseClaims, TaskReport, TaskSpec } from "../../api/agent-protocol";
import { createLeaseChecker, type LeaseChecker } from "../../agent/lease-check";
import type { Rng } from "./rng";

/** The env var of a bad version, and what it makes the version's tasks do. */
export const OUTCOME_ENV = "SIM_OUTCOME";
export type BadOutcome = "fail" | "unhealthy";

function outcomeOf(spec: TaskSpec): BadOutcome | null {
  const v = spec.env[OUTCOME_ENV];
  return v === "fail" || v === "unhealthy" ? v : null;
}

export interface Container {
  id: string;
  taskId: string;
  epoch: number;
  jobId: string;
  slot: number;
  version: number;
  policy: "keep" | "stop";
  running: boolean;
  /** The lease it was started under, with its payload (Docker label). */
  label: { lease: string; task: TaskSpec };
}

interface Held {
  taskId: string;
  epoch: number;
  lease: string;
  claims: LeaseClaims;
  /** The lease's payload, checked against `claims.ph`. */
  task: TaskSpec;
  /** stopped: told to stop, and stopped; failed: its start failed. Both are reported once, then forgotten. */
  phase: "starting" | "running" | "stopped" | "failed";
  startAt: number;
  /** Expiry the control plane last told (null after adoption: the agent no longer knows it). */
  expiresAt: number | null;
  containerId: string | null;
  /** Send time of the request whose reply last renewed this lease (null: not yet), as the real agent keeps. */
  renewedSentAt: number | null;
}

/** What survives an agent restart: its data directory. */
interface Disk {
  nodeId: string;
  credential: string;
  jwks: { keys: JWK[] };
  /** leases.json: each lease with its payload. */
  leases: Record<string, { lease: string; task: TaskSpec }>;
  /** Fences and the last answer's time, kept on disk by the real agent (fences.json, contact.json). */
  fences: Record<string, number>;
  contactAt: number | null;
}

export class SimAgent {
  crashed = false;
  /** Bumped on every restart: replies to requests of an earlier process are dropped. */
  generation = 0;
  readonly containers: Container[] = [];
  held = new Map<string, Held>();
  private revokedEpoch = new Map<string, number>();
  lastContact: number;
  nextHeartbeat: number;
  nextClaim: number;
  interval = 1_000;
  heartbeatOut: { id: number; sentAt: number; reports: TaskReport[] } | null = null;
  claimOut: { id: number; sentAt: number } | null = null;
  needsEnroll = false;
  private disk: Disk;
  private check: LeaseChecker;
  private containerSeq = 0;

  constructor(
    readonly name: string,
    enrolled: { nodeId: string; credential: string; jwks: { keys: JWK[] } },
    private readonly rng: Rng,
    now: number,
    private readonly note: (what: string) => void,
  ) {
    this.disk = { ...enrolled, leases: {}, fences: {}, contactAt: null };
    this.check = createLeaseChecker(enrolled.jwks, enrolled.nodeId);
    this.lastContact = now;
    this.nextHeartbeat = now;
    this.nextClaim = now;
  }

  get nodeId(): string {
    return this.disk.nodeId;
  }
  get credential(): string {
    return this.disk.credential;
  }

  reenrolled(nodeId: string, credential: string): void {
    this.disk.nodeId = nodeId;
    this.disk.credential = credential;
    this.check = createLeaseChecker(this.disk.jwks, nodeId);
    this.needsEnroll = false;
  }

  private persist(): void {
    this.disk.leases = Object.fromEntries([...this.held.values()].map((t) => [t.taskId, { lease: t.lease, task: t.task }]));
  }

  private stopContainer(id: string | null, why: string): void {
    const c = this.containers.find((x) => x.id === id);
    if (!c || !c.running) return;
    c.running = false;
    this.note(`stop ${short(c.taskId)}@${c.epoch} (${c.jobId}#${c.slot}): ${why}`);
  }

  private retire(t: Held, why: string): void {
    this.held.delete(t.taskId);
    this.persist();
    this.stopContainer(t.containerId, why);
  }

  /** Highest epoch this node ever ran a task at (from container labels, so it survives restarts). */
  private ranEpoch(taskId: string): number {
    return this.containers.filter((c) => c.taskId === taskId).reduce((m, c) => Math.max(m, c.epoch), 0);
  }

  /** The agent's reconcile pass: self-fence, start what is due, stop what no lease accounts for. */
  reconcile(now: number): void {
    for (const t of [...this.held.values()]) {
      const { policy, afterMs } = t.task.disconnect;
      if (policy === "stop") {
        // As the real agent: the bound counts from this lease's last renewal, and nothing starts before one.
        const since = Math.min(this.lastContact, t.renewedSentAt ?? Number.POSITIVE_INFINITY);
        if (t.renewedSentAt !== null && now - since > afterMs) {
          this.retire(t, `self-fence: not renewed for ${now - since}ms`);
          continue;
        }
        if (t.renewedSentAt === null && t.phase === "starting") continue;
      }
      if (t.phase === "starting" && now >= t.startAt) {
        const spec = t.task;
        if (outcomeOf(spec) === "fail") {
          t.phase = "failed";
          this.nextHeartbeat = Math.min(this.nextHeartbeat, now);
          this.note(`start of ${short(t.taskId)}@${t.epoch} (${spec.jobId}#${spec.slot} v${spec.version}) failed: bad version`);
          continue;
        }
        const c: Container = { id: `${this.name}-c${++this.containerSeq}`, taskId: t.taskId, epoch: t.epoch, jobId: spec.jobId, slot: spec.slot, version: spec.version, policy: spec.disconnect.policy, running: true, label: { lease: t.lease, task: t.task } };
        this.containers.push(c);
        t.containerId = c.id;
        t.phase = "running";
        this.nextHeartbeat = Math.min(this.nextHeartbeat, now);
        this.note(`start ${short(t.taskId)}@${t.epoch} (${spec.jobId}#${spec.slot} v${spec.version})`);
      }
    }
    const known = new Set([...this.held.values()].map((t) => t.containerId));
    for (const c of this.containers) if (c.running && !known.has(c.id)) this.stopContainer(c.id, "no lease accounts for it");
  }

  reports(): TaskReport[] {
    return [...this.held.values()].map((t) => {
      const unhealthy = t.phase === "running" && outcomeOf(t.task) === "unhealthy";
      return { lease: t.lease, state: t.phase, health: unhealthy ? "unhealthy" : null, exitCode: null, restarts: 0, ...(t.phase === "failed" ? { message: "start failed (bad version)" } : {}) };
    });
  }

  async onClaim(reply: ClaimResponse, now: number): Promise<void> {
    this.interval = reply.heartbeatIntervalMs;
    // Stop orders ride on claim replies too (work reaching the agent at once); handled as a heartbeat's.
    // Only a copy not yet stopped is acted on, as the real agent does: a repeated order must not drop the
    // stopped report still to be sent.
    for (const r of reply.stops ?? []) {
      const phase = this.held.get(r.taskId)?.phase;
      if (phase === "stopped" || phase === "failed") continue;
      this.note(`stop order ${short(r.taskId)}@${r.epoch} in a claim reply`);
      this.revoke(r, now);
    }
    for (const g of reply.leases) {
      const verdict = await this.check(g.lease, g.task, now);
      if (!verdict.ok) {
        this.note(`refuse ${short(g.taskId)}@${g.epoch}: ${verdict.reason}`);
        continue;
      }
      const { sub: taskId, epoch } = verdict.claims;
      const existing = this.held.get(taskId);
      if (existing && existing.epoch === epoch) {
        existing.lease = g.lease;
        existing.task = verdict.task;
        existing.expiresAt = Math.max(existing.expiresAt ?? 0, g.expiresAt);
        continue;
      }
      // Never act on an epoch at or below one this node was told is fenced, or below one it already ran.
      const fenced = this.revokedEpoch.get(taskId) ?? 0;
      if (epoch <= fenced || epoch < this.ranEpoch(taskId) || (existing && epoch < existing.epoch)) {
        this.note(`refuse ${short(taskId)}@${epoch}: fenced (told ${fenced}, ran ${this.ranEpoch(taskId)})`);
        continue;
      }
      if (existing) this.retire(existing, `superseded by epoch ${epoch}`);
      // Pulling the image and creating the container take a moment.
      this.held.set(taskId, { taskId, epoch, lease: g.lease, claims: verdict.claims, task: verdict.task, phase: "starting", startAt: now + this.rng.int(0, 600), expiresAt: g.expiresAt, containerId: null, renewedSentAt: null });
      this.nextHeartbeat = Math.min(this.nextHeartbeat, now);
      this.note(`accept ${short(taskId)}@${epoch} (${verdict.task.jobId}#${verdict.task.slot})`);
    }
    this.persist();
  }

  /** A revocation from a heartbeat reply, or a stop order from a claim reply: the same handling. */
  private revoke(r: HeartbeatResponse["revoked"][number], now: number): void {
    this.revokedEpoch.set(r.taskId, Math.max(this.revokedEpoch.get(r.taskId) ?? 0, r.epoch));
    this.disk.fences[r.taskId] = Math.max(this.disk.fences[r.taskId] ?? 0, r.epoch);
    const t = this.held.get(r.taskId);
    if (!t || t.epoch !== r.epoch) return;
    if (r.reason === "stopped" && t.phase !== "stopped" && t.phase !== "failed") {
      this.stopContainer(t.containerId, "told stopped");
      t.phase = "stopped";
      this.nextHeartbeat = now;
    } else this.retire(t, `revoked: ${r.reason}`);
  }

  async onHeartbeat(reply: HeartbeatResponse, sent: TaskReport[], now: number, sentAt: number): Promise<void> {
    this.lastContact = now;
    this.disk.contactAt = now;
    this.interval = reply.heartbeatIntervalMs;
    if (reply.credential) this.disk.credential = reply.credential;
    for (const g of reply.renewed) {
      const t = this.held.get(g.taskId);
      if (!t || t.epoch !== g.epoch) continue;
      t.renewedSentAt = Math.max(t.renewedSentAt ?? Number.NEGATIVE_INFINITY, sentAt);
      t.expiresAt = Math.max(t.expiresAt ?? 0, g.expiresAt);
      // A renewal carries no payload: the re-signed token must name the one held.
      if (g.lease && (await this.check(g.lease, t.task, now)).ok) t.lease = g.lease;
    }
    for (const r of reply.revoked) this.revoke(r, now);
    // An end is forgotten once its report went out and was answered; a failed start's epoch is fenced then,
    // as the real agent does (it never runs that lease again).
    const sentEnded = new Map(sent.filter((r) => r.state === "stopped" || r.state === "failed").map((r) => [r.lease, r.state]));
    for (const t of [...this.held.values()]) {
      if (sentEnded.get(t.lease) !== t.phase) continue;
      this.held.delete(t.taskId);
      if (t.phase === "failed") {
        this.revokedEpoch.set(t.taskId, Math.max(this.revokedEpoch.get(t.taskId) ?? 0, t.epoch));
        this.disk.fences[t.taskId] = Math.max(this.disk.fences[t.taskId] ?? 0, t.epoch);
      }
    }
    this.persist();
    if (reply.work) this.nextClaim = now;
  }

  crash(): void {
    this.crashed = true;
    this.generation++;
    this.heartbeatOut = null;
    this.claimOut = null;
  }

  /** A fresh agent process: memory is gone; it re-adopts running containers from their labels and leases.json. */
  async restart(now: number): Promise<void> {
    this.crashed = false;
    this.held = new Map();
    // Fences and the last answer's time come back from disk, as the real agent's do.
    this.revokedEpoch = new Map(Object.entries(this.disk.fences));
    this.lastContact = this.disk.contactAt ?? now;
    this.nextHeartbeat = now;
    this.nextClaim = now;
    const newest = new Map<string, Container>();
    for (const c of this.containers) {
      if (!c.running) continue;
      const prev = newest.get(c.taskId);
      if (!prev || prev.epoch < c.epoch) newest.set(c.taskId, c);
    }
    for (const c of this.containers) {
      if (!c.running) continue;
      if (newest.get(c.taskId) !== c) {
        this.stopContainer(c.id, "older epoch on adoption");
        continue;
      }
      let adopted = false;
      for (const candidate of [this.disk.leases[c.taskId], c.label]) {
        if (candidate === undefined) continue;
        const v = await this.check(candidate.lease, candidate.task, null);
        if (v.ok && v.claims.epoch === c.epoch) {
          if ((this.disk.fences[c.taskId] ?? 0) >= c.epoch) break;
          this.held.set(c.taskId, { taskId: c.taskId, epoch: c.epoch, lease: candidate.lease, claims: v.claims, task: v.task, phase: "running", startAt: now, expiresAt: null, containerId: c.id, renewedSentAt: this.lastContact });
          adopted = true;
          break;
        }
      }
      if (!adopted) this.stopContainer(c.id, "no valid lease on adoption");
    }
    this.persist();
    this.note(`restarted, adopted ${this.held.size}`);
  }
}

export function short(id: string): string {
  return id.slice(0, 6);
}
