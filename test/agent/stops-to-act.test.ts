// Which stop orders of a claim reply the agent acts on: only copies still running (or about to) at that
// epoch. A copy already stopped keeps its pending report; revoking it would drop that report.
import { describe, expect, it } from "vitest";
import { stopsToAct } from "../../agent/run";

const stop = (taskId: string, epoch: number) => ({ taskId, epoch, reason: "stopped" as const, detail: "" });
const held = (taskId: string, epoch: number, phase: "starting" | "running" | "backoff" | "complete" | "failed" | "stopping" | "stopped") => ({ taskId, epoch, phase, containerId: null, restarts: 0 });

describe("a claim's stop orders", () => {
  it("act on running, starting and restarting copies at their epoch, and leave the rest to the heartbeat", () => {
    const supervisor = {
      held: () => [held("a", 1, "running"), held("b", 2, "starting"), held("c", 1, "backoff"), held("d", 1, "stopped"), held("e", 1, "stopping"), held("f", 3, "running")],
    };
    const orders = [stop("a", 1), stop("b", 2), stop("c", 1), stop("d", 1), stop("e", 1), stop("f", 2), stop("g", 1)];
    expect(stopsToAct(supervisor, orders).map((s) => s.taskId)).toEqual(["a", "b", "c"]);
  });
});
