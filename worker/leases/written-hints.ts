// Per-instance hints of what the heartbeat writer last wrote for each task (see the class comment).
import type { z } from "zod";
import type { taskReportSchema } from "../../api/agent-protocol";

type Report = z.output<typeof taskReportSchema>;

/**
 * What this instance last wrote for a task, at which epoch: a hint that spares a batch the statements for
 * state changes and restart events when no report can need them. It is sound because both only move
 * forward within an epoch (leased → running → ended; restarts only rise) while the agent reports running:
 * if this instance wrote "running" with n restarts at epoch e, the stored row at epoch e is running with at
 * least n restarts, or has ended, whoever wrote since. Only a "starting" report moves a task back (to
 * leased), and any report other than running forgets the hint. An empty or evicted hint only costs the
 * longer batch.
 */
export class WrittenHints {
  private readonly hints = new Map<string, { epoch: number; restarts: number; health: string | null }>();
  constructor(private readonly max = 200_000) {}

  /**
   * Whether this report may change the stored state, add a restart event, or turn the task healthy (which
   * may let a rollout advance). A report of any other state than running forgets the hint: it may move the
   * task back to leased (a container starting again).
   */
  mayChange(taskId: string, epoch: number, report: Report): boolean {
    if (report.state !== "running") {
      this.forget(taskId);
      return true;
    }
    const h = this.hints.get(taskId);
    return !h || h.epoch !== epoch || (report.restarts ?? 0) > h.restarts || (report.health ?? null) !== h.health;
  }

  forget(taskId: string): void {
    this.hints.delete(taskId);
  }

  wroteRunning(taskId: string, epoch: number, restarts: number, health: string | null): void {
    if (this.hints.size >= this.max) this.hints.clear();
    this.hints.set(taskId, { epoch, restarts, health });
  }
}
