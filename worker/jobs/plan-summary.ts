// A scheduler plan for one hypothetical job, read back as what would happen on each node: slots placed,
// stopped, kept and rolled. Pure, so it is tested on its own.
//
// The plan it reads is for the end state: the job's update parallelism is taken as its whole count, so
// every slot of an older version is rolled in this one plan instead of a few at a time. Under stop-first
// (the default) a rolled slot's new copy is placed only once its old one has stopped, so the plan names
// the node the old copy leaves, not where the new one will start.
//
// Only copies that are live and not lost count as kept, rolled or stopped: a finished row retired by the
// plan, or a lost one, runs nothing that would change.
import type { PlanNode, PlanResponse } from "../../api/job-plan";
import { holdsResources } from "../scheduler/reconcile";
import type { JobView, NodeView, Plan, TaskView } from "../scheduler";

type Bucket = "placed" | "stopped" | "kept" | "rolled";

export function summarisePlan(job: JobView, tasks: readonly TaskView[], nodes: readonly NodeView[], plan: Plan): Pick<PlanResponse, "nodes" | "unplaced"> {
  const own = new Map(tasks.filter((t) => t.jobId === job.id).map((t) => [t.id, t]));
  const lost = new Set(plan.lost.map((l) => l.taskId));
  const running = (t: TaskView) => holdsResources(t) && !lost.has(t.id);
  const byNode = new Map<string, Record<Bucket, Set<number>>>();
  const add = (nodeId: string | null, bucket: Bucket, slot: number) => {
    if (nodeId === null) return;
    let entry = byNode.get(nodeId);
    if (entry === undefined) byNode.set(nodeId, (entry = { placed: new Set(), stopped: new Set(), kept: new Set(), rolled: new Set() }));
    entry[bucket].add(slot);
  };

  const rolledSlots = new Set<number>();
  for (const stop of plan.stop) {
    const t = own.get(stop.taskId);
    if (t === undefined || !running(t)) continue;
    if (stop.reason === "update") {
      add(t.nodeId, "rolled", t.slot);
      rolledSlots.add(t.slot);
    } else if (stop.reason === "scale-down" && t.slot >= job.replicas) add(t.nodeId, "stopped", t.slot);
    // A drain's stop (its slot moves once the copy has stopped) and a duplicate's are not the file's doing.
  }
  // A roll already under way: an older copy asked to stop that may still run fences its slot, so this plan
  // places nothing there yet (stop-first); its new copy comes once it has stopped.
  const placedSlots = new Set(plan.place.filter((p) => p.jobId === job.id).map((p) => p.slot));
  for (const t of own.values()) {
    if (t.desired !== "stop" || !running(t) || t.version >= job.version || t.slot >= job.replicas) continue;
    if (rolledSlots.has(t.slot) || placedSlots.has(t.slot)) continue;
    add(t.nodeId, "rolled", t.slot);
    rolledSlots.add(t.slot);
  }
  for (const p of plan.place) {
    // Under start-first a rolled slot's new copy is placed in the same plan: it is the roll, not a new slot.
    if (p.jobId === job.id && !rolledSlots.has(p.slot)) add(p.nodeId, "placed", p.slot);
  }
  for (const moved of [...plan.replace, ...plan.migrate]) if (moved.jobId === job.id) add(moved.nodeId, "placed", moved.slot);
  for (const id of plan.ignore) {
    const t = own.get(id);
    if (t !== undefined && t.desired === "run" && running(t) && t.slot < job.replicas) add(t.nodeId, "kept", t.slot);
  }

  const names = new Map(nodes.map((n) => [n.id, n.name]));
  const summary: PlanNode[] = [...byNode].map(([id, b]) => ({
    id,
    name: names.get(id) ?? id,
    placed: sorted(b.placed),
    stopped: sorted(b.stopped),
    kept: sorted(b.kept),
    rolled: sorted(b.rolled),
  }));
  summary.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const unplaced = plan.unplaced.filter((u) => u.jobId === job.id).map((u) => ({ slot: u.slot, reason: u.reason }));
  unplaced.sort((a, b) => a.slot - b.slot);
  return { nodes: summary, unplaced };
}

const sorted = (slots: Set<number>) => [...slots].sort((a, b) => a - b);
