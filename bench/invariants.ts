// Correctness checks the benchmarks assert: no task under two valid leases, no over-committed node, every task running.
import type { Client } from "@libsql/client";
import type { HeldLeaseRecord } from "./remote-fleet";

export interface LeaseSample {
  at: number;
  tasks: number;
  /** Tasks for which more than one agent holds a lease at the DB's current epoch that has not expired. */
  doubleAtCurrentEpoch: number;
  /** Tasks for which more than one agent holds an unexpired lease of any epoch (the stronger form). */
  doubleAnyEpoch: number;
  /** DB rows: more than one live (leased/running, unexpired) task for one job slot. */
  doubleInStore: number;
  /** Up to three offending tasks, described for diagnosis. */
  examples: string[];
}

/**
 * One sample of the fencing invariant: reads the task table, then every agent's held leases, and counts
 * tasks held under two valid leases. Agents' expiries are the ones the control plane told them.
 */
export async function sampleLeases(db: Client, held: () => Promise<HeldLeaseRecord[]>): Promise<LeaseSample> {
  const rows = await db.execute("SELECT id, epoch, state, node_id, lease_expires_at FROM tasks WHERE state IN ('leased', 'running')");
  const epochs = new Map<string, number>();
  const dbRows = new Map<string, { state: string; node: string; expires: number }>();
  for (const r of rows.rows) {
    epochs.set(String(r["id"]), Number(r["epoch"]));
    dbRows.set(String(r["id"]), { state: String(r["state"]), node: String(r["node_id"]), expires: Number(r["lease_expires_at"]) });
  }
  const slots = await db.execute({
    sql: `SELECT count(*) AS n FROM (SELECT job_id, slot FROM tasks WHERE state IN ('leased', 'running') AND lease_expires_at >= ?
          GROUP BY job_id, slot HAVING count(*) > 1)`,
    args: [Date.now()],
  });
  const leases = await held();
  const at = Date.now();
  const atEpoch = new Map<string, number>();
  const anyEpoch = new Map<string, number>();
  const holders = new Map<string, string[]>();
  for (const l of leases) {
    if (l.expiresAt <= at || l.taskStopped) continue;
    anyEpoch.set(l.taskId, (anyEpoch.get(l.taskId) ?? 0) + 1);
    if (epochs.get(l.taskId) === l.epoch) atEpoch.set(l.taskId, (atEpoch.get(l.taskId) ?? 0) + 1);
    const list = holders.get(l.taskId) ?? [];
    list.push(`${l.agent}${l.agentStopped ? " (stopped)" : ""} epoch ${l.epoch} valid ${l.expiresAt - at} ms more`);
    holders.set(l.taskId, list);
  }
  const over = (m: Map<string, number>): string[] => [...m.entries()].filter(([, n]) => n > 1).map(([id]) => id);
  const doubled = over(anyEpoch);
  const examples = doubled.slice(0, 3).map((id) => {
    const row = dbRows.get(id);
    const stored = row ? `DB: epoch ${epochs.get(id) ?? "?"}, ${row.state}, lease ${row.expires - at} ms from now` : "DB: not leased or running";
    return `task ${id}: ${stored}; held by ${(holders.get(id) ?? []).join("; ")}`;
  });
  return { at, tasks: epochs.size, doubleAtCurrentEpoch: over(atEpoch).length, doubleAnyEpoch: doubled.length, doubleInStore: Number(slots.rows[0]?.["n"] ?? 0), examples };
}

/** Nodes whose placed, leased and running tasks ask for more CPU or memory than the node offers. */
export async function overCommittedNodes(db: Client): Promise<number> {
  const r = await db.execute(`SELECT count(*) AS n FROM (
      SELECT n.id FROM nodes n JOIN tasks t ON t.node_id = n.id AND t.state IN ('placed', 'leased', 'running')
      GROUP BY n.id HAVING sum(t.cpu) > max(n.cpu) OR sum(t.memory) > max(n.memory))`);
  return Number(r.rows[0]?.["n"] ?? 0);
}

/** Counts of tasks that should run, by state. */
export async function runStateCounts(db: Client): Promise<Record<string, number>> {
  const r = await db.execute("SELECT state, count(*) AS n FROM tasks WHERE desired = 'run' GROUP BY state");
  return Object.fromEntries(r.rows.map((row) => [String(row["state"]), Number(row["n"])]));
}

export async function countTasks(db: Client, where: string): Promise<number> {
  const r = await db.execute(`SELECT count(*) AS n FROM tasks WHERE ${where}`);
  return Number(r.rows[0]?.["n"] ?? 0);
}

/** Tasks that should run and every hollow agent thinks it runs: each must be held by exactly one agent at its DB epoch. */
export async function unheldRunningTasks(db: Client, leases: HeldLeaseRecord[]): Promise<number> {
  const rows = await db.execute("SELECT id, epoch FROM tasks WHERE desired = 'run' AND state = 'running'");
  const held = new Set<string>();
  for (const l of leases) if (!l.agentStopped) held.add(`${l.taskId}:${l.epoch}`);
  return rows.rows.filter((r) => !held.has(`${String(r["id"])}:${Number(r["epoch"])}`)).length;
}

/** Accumulates lease samples: the worst count of each kind of double lease, and the first examples seen. */
export class LeaseWatch {
  samples = 0;
  atCurrentEpoch = 0;
  anyEpoch = 0;
  inStore = 0;
  examples: string[] = [];

  add(s: LeaseSample): void {
    this.samples++;
    this.atCurrentEpoch = Math.max(this.atCurrentEpoch, s.doubleAtCurrentEpoch);
    this.anyEpoch = Math.max(this.anyEpoch, s.doubleAnyEpoch);
    this.inStore = Math.max(this.inStore, s.doubleInStore);
    if (this.examples.length === 0 && s.examples.length > 0) this.examples = s.examples;
  }

  merge(other: LeaseWatch): void {
    this.samples += other.samples;
    this.atCurrentEpoch = Math.max(this.atCurrentEpoch, other.atCurrentEpoch);
    this.anyEpoch = Math.max(this.anyEpoch, other.anyEpoch);
    this.inStore = Math.max(this.inStore, other.inStore);
    if (this.examples.length === 0) this.examples = other.examples;
  }

  worst(): number {
    return Math.max(this.atCurrentEpoch, this.anyEpoch, this.inStore);
  }

  describe(): string {
    return `${this.samples} samples; worst: ${this.atCurrentEpoch} at the DB epoch, ${this.anyEpoch} at any epoch, ${this.inStore} two live rows per slot`;
  }
}
