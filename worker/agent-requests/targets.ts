// Which task copies a follow or an exec goes to: a job's tasks on a node, named by id or an id's prefix.
import { and, asc, eq, inArray } from "drizzle-orm";
import type { Db } from "../../db/store";
import { nodes, tasks } from "../../db/schema";
import { badRequest, notFound } from "../errors";

export interface TaskTarget {
  taskId: string;
  nodeId: string;
  nodeName: string;
  slot: number;
}

/** States whose container may have logs on its node: as the tail reads them. */
const WITH_LOGS = ["leased", "running", "complete", "failed"] as const;

const matches = (wanted: string | undefined) => (t: TaskTarget) => wanted === undefined || t.taskId === wanted || t.taskId.startsWith(wanted);

async function tasksOnNodes(db: Db, jobId: string, states: readonly (typeof WITH_LOGS)[number][]): Promise<TaskTarget[]> {
  const rows = await db
    .select({ taskId: tasks.id, nodeId: tasks.nodeId, nodeName: nodes.name, slot: tasks.slot })
    .from(tasks)
    .innerJoin(nodes, eq(nodes.id, tasks.nodeId))
    .where(and(eq(tasks.jobId, jobId), inArray(tasks.state, [...states])))
    .orderBy(asc(tasks.slot), asc(tasks.id));
  return rows.map((r) => ({ ...r, nodeId: r.nodeId as string }));
}

/** The tasks a follow reads: every one with logs on a node, or those `taskId` names. */
export async function followTargets(db: Db, jobId: string, taskId: string | undefined): Promise<TaskTarget[]> {
  const chosen = (await tasksOnNodes(db, jobId, WITH_LOGS)).filter(matches(taskId));
  if (chosen.length === 0) throw notFound(taskId ? `job ${jobId} has no task ${taskId} on a node` : `job ${jobId} has no tasks on a node`);
  return chosen;
}

/**
 * The one running task an exec goes to: the job's only one, or the one `taskId` names. Naming none (or a
 * prefix of several) when there are several is refused with the list to choose from.
 */
export async function execTarget(db: Db, jobId: string, taskId: string | undefined): Promise<TaskTarget> {
  const running = await tasksOnNodes(db, jobId, ["running"]);
  const chosen = running.filter(matches(taskId));
  if (chosen.length === 1) return chosen[0]!;
  if (chosen.length === 0) throw notFound(taskId ? `job ${jobId} has no running task ${taskId}` : `job ${jobId} has no running task`);
  const list = chosen.map((t) => `${t.taskId.slice(0, 8)} (slot ${t.slot} on ${t.nodeName})`).join(", ");
  const message = taskId ? `${chosen.length} running tasks start with ${taskId}: ${list}` : `job ${jobId} runs ${chosen.length} tasks, so one must be named: ${list}`;
  throw badRequest(message, [{ path: "taskId", message }]);
}
