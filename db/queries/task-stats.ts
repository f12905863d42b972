// Task cpu and memory samples: written by heartbeats (fenced like the reports they ride on), kept to the
// newest few per task, and read as each task's latest for status, top and the dashboard.
import type { InStatement } from "@libsql/client";
import { sql } from "drizzle-orm";
import type { TaskSamples } from "../../api/task-stats";
import type { Db } from "../store";
import { OK_NODES } from "./heartbeat";
import { HELD_SQL } from "./task-states";

/** Samples kept per task: at the agent's default 10 s interval, the last 10 minutes. */
export const TASK_STATS_KEPT = 60;

/**
 * The statements recording a heartbeat batch's samples. `samples` is a JSON array of [node, task, epoch, cpu
 * percent, memory bytes, memory limit, age ms]; `nodes` is the batch's nodes as the heartbeat passes them. A
 * sample counts only for the task's current holder at the epoch it reported, while that node's credential
 * is current, as the report it came in does. Samples of those tasks beyond the newest TASK_STATS_KEPT go in
 * the same batch, so the table stays bounded by the tasks there are.
 */
export function taskStatsStatements(nodes: string, samples: string, now: number): InStatement[] {
  const args = { nodes, samples, now, kept: TASK_STATS_KEPT };
  const s = `s AS MATERIALIZED (SELECT value ->> 0 AS node, value ->> 1 AS id, value ->> 2 AS epoch, value ->> 3 AS cpu,
      value ->> 4 AS mem, value ->> 5 AS lim, value ->> 6 AS age FROM json_each(:samples))`;
  return [
    {
      sql: `WITH ${OK_NODES}, ${s}
            INSERT INTO task_stats (task_id, at, cpu_percent, memory_bytes, memory_limit_bytes)
            SELECT t.id, :now - s.age, s.cpu, s.mem, s.lim
            FROM s JOIN tasks t ON t.id = s.id AND t.epoch = s.epoch AND t.node_id = s.node
            WHERE s.node IN (SELECT id FROM ok) AND t.state IN ${HELD_SQL}
            ON CONFLICT DO NOTHING`,
      args,
    },
    {
      sql: `DELETE FROM task_stats WHERE task_id IN (SELECT value ->> 1 FROM json_each(:samples))
            AND at < coalesce((SELECT k.at FROM task_stats k WHERE k.task_id = task_stats.task_id ORDER BY k.at DESC LIMIT 1 OFFSET :kept - 1), -1)`,
      args,
    },
  ];
}

/** A task's samples with the job's id (the API names the job within its namespace). */
export type TaskSamplesRow = Omit<TaskSamples, "job"> & { jobId: string };

/**
 * The newest `per` samples of each task of a namespace (or of one job) that has any, with the task's place.
 * The primary key (task_id, at) serves each task's newest rows directly.
 */
export async function readTaskSamples(db: Db, filter: { namespace: string; jobId?: string }, per: number): Promise<TaskSamplesRow[]> {
  const rows = await db.all<{ task_id: string; job_id: string; slot: number; node_id: string | null; state: string; at: number; cpu_percent: number; memory_bytes: number; memory_limit_bytes: number | null }>(sql`
    SELECT t.id AS task_id, t.job_id, t.slot, t.node_id, t.state, s.at, s.cpu_percent, s.memory_bytes, s.memory_limit_bytes
    FROM tasks t JOIN task_stats s ON s.task_id = t.id
    WHERE t.namespace = ${filter.namespace} ${filter.jobId === undefined ? sql`` : sql`AND t.job_id = ${filter.jobId}`}
      AND s.at >= coalesce((SELECT k.at FROM task_stats k WHERE k.task_id = t.id ORDER BY k.at DESC LIMIT 1 OFFSET ${per - 1}), -1)
    ORDER BY t.job_id, t.slot, t.id, s.at DESC`);
  const out = new Map<string, TaskSamplesRow>();
  for (const r of rows) {
    let entry = out.get(r.task_id);
    if (!entry) out.set(r.task_id, (entry = { taskId: r.task_id, jobId: r.job_id, slot: Number(r.slot), nodeId: r.node_id, state: r.state, samples: [] }));
    entry.samples.push({ at: Number(r.at), cpuPercent: Number(r.cpu_percent), memoryBytes: Number(r.memory_bytes), memoryLimitBytes: r.memory_limit_bytes === null ? null : Number(r.memory_limit_bytes) });
  }
  return [...out.values()];
}
