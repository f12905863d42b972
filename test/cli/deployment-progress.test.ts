// How a deployment's detail reads: the counts of old and new replicas, each slot's mark, how it ended, and
// the board a terminal shows (per region when it rolls in waves).
import { describe, expect, it } from "vitest";
import type { DeploymentDetail, DeploymentSlot } from "../../cli/api-types";
import { endOf, endReason, markOf, missingSlots, progressPhrase, waitsForPromote } from "../../cli/deployment-progress";
import { EXIT } from "../../cli/exit-codes";
import { fitLine } from "../../cli/live-display";
import { boardLines } from "../../cli/rollout-view";

function slot(n: number, over: Partial<DeploymentSlot> = {}): DeploymentSlot {
  return { slot: n, canary: n < 0, taskId: null, nodeId: null, region: "eu", state: null, placedAt: null, healthySince: null, healthy: false, oldVersion: 1, offline: false, ...over };
}
const healthy = (n: number, over: Partial<DeploymentSlot> = {}) => slot(n, { taskId: `t${n}`, nodeId: "n1", state: "running", healthy: true, oldVersion: null, ...over });
const starting = (n: number, over: Partial<DeploymentSlot> = {}) => slot(n, { taskId: `t${n}`, nodeId: "n1", state: "leased", oldVersion: null, ...over });

function deployment(slots: DeploymentSlot[], over: Partial<DeploymentDetail> = {}): DeploymentDetail {
  return {
    id: "61c70627-2c68-48c4-9899-2e575f5c8259",
    jobId: "default/web",
    namespace: "default",
    version: 2,
    fromVersion: 1,
    status: "running",
    description: "2 of 6 slots at version 2 healthy",
    promoted: true,
    wave: null,
    wavesDone: [],
    revertOf: null,
    progressDeadlineAt: null,
    createdAt: 0,
    updatedAt: 0,
    counts: { desired: 0, canaries: 0, placed: 0, healthy: 0, old: 0, offline: 0 },
    slots,
    events: [],
    ...over,
  };
}

describe("progress", () => {
  it("counts the new version's slots and the old copies still serving, each as what it is", () => {
    const d = deployment([healthy(0), healthy(1), slot(2), slot(3), slot(4), slot(5)]);
    expect(progressPhrase(d)).toBe("v2: 2/6 healthy, v1: 4 still serving");
    const mixed = deployment([healthy(0), starting(1), slot(2, { oldVersion: null }), slot(3, { offline: true }), slot(4, { oldVersion: 3 }), starting(5, { state: "failed" })], { version: 4 });
    expect(progressPhrase(mixed)).toBe("v4: 1/6 healthy, 1 starting, 1 failed, 1 not placed yet, 1 slot waiting on offline hosts, v3: 1 still serving, v1: 1 still serving");
    expect(mixed.slots.map(markOf)).toEqual(["healthy", "starting", "waiting", "offline", "old", "failed"]);
    // A new task pending with no node is not on its way yet.
    expect(markOf(starting(0, { state: "pending", nodeId: null }))).toBe("waiting");
  });

  it("puts the canaries beside the new version, and leaves out the ones a successful deployment retired", () => {
    const d = deployment([healthy(-1), slot(0), slot(1)], { promoted: false, description: "1 canary healthy: waiting for promote" });
    expect(progressPhrase(d)).toBe("v2: 0/2 healthy, canary 1/1 healthy, v1: 2 still serving");
    expect(waitsForPromote(d)).toBe(true);
    expect(waitsForPromote({ ...d, promoted: true })).toBe(false);
    expect(waitsForPromote(deployment([starting(-1), slot(0)], { promoted: false }))).toBe(false);
    const done = deployment([slot(-1, { oldVersion: null }), healthy(0), healthy(1)], { status: "successful" });
    expect(progressPhrase(done)).toBe("v2: 2/2 healthy");
  });

  it("names each slot that is not there yet", () => {
    const d = deployment([healthy(-1), starting(0, { state: "placed" }), starting(1, { state: "running" }), slot(2), slot(3, { offline: true })]);
    expect(missingSlots(d)).toEqual(["slot 0: placed", "slot 1: running, not healthy yet", "slot 2: v1 still serving", "slot 3: v1 still serving, its host is offline"]);
  });
});

describe("how a deployment ends", () => {
  it("takes a reverted deployment for a failed one, and a cancelled one for neither", () => {
    expect(endOf("successful")).toBe("successful");
    expect(endOf("failed")).toBe("failed");
    expect(endOf("reverted")).toBe("failed");
    expect(endOf("cancelled")).toBe("cancelled");
    expect(endOf("running")).toBeNull();
    expect(endOf("paused")).toBeNull();
    expect(EXIT.cancelled).not.toBe(EXIT.failed);
    expect(endReason({ status: "failed", description: "failed: slot 0 of version 2 failed" })).toBe("failed: slot 0 of version 2 failed");
    expect(endReason({ status: "reverted", description: "failed: slot 0 of version 2 failed; reverted to version 1 as version 3" })).toBe(
      "failed and was reverted: slot 0 of version 2 failed; reverted to version 1 as version 3",
    );
    expect(endReason({ status: "cancelled", description: "superseded by version 3" })).toBe("was cancelled: superseded by version 3");
  });
});

describe("the board", () => {
  it("draws a row of marks per region when the deployment rolls in waves, the rolling one marked", () => {
    const slots = [healthy(0), healthy(1), starting(2, { region: "us" }), slot(3, { region: "us" }), slot(4, { region: "ap" })];
    const d = deployment(slots, { wave: "us", wavesDone: ["eu"], description: "2 of 5 slots at version 2 healthy (wave us)" });
    expect(boardLines(d, { header: "deployment 61c70627 of default/web: version 1 → 2", color: false, elapsedMs: 75_000, notes: ["slot 4: pending (no room)"] })).toEqual([
      "deployment 61c70627 of default/web: version 1 → 2  running  1m15s",
      "  eu (done)     ##  v2: 2/2 healthy",
      "  us (rolling)  +o  v2: 0/2 healthy, 1 starting, v1: 1 still serving",
      "  ap            o   v2: 0/1 healthy, v1: 1 still serving",
      "  2 of 5 slots at version 2 healthy (wave us)",
      "  slot 4: pending (no room)",
      "  # healthy  + starting  o old version",
    ]);
  });

  it("wraps a large job's marks onto more rows, and colours them only when asked", () => {
    const many = deployment(Array.from({ length: 120 }, (_, i) => (i < 60 ? healthy(i) : slot(i))));
    const lines = boardLines(many, { header: "h", color: false, elapsedMs: 0, notes: [] });
    expect(lines.slice(1, 4)).toEqual([`  slots  ${"#".repeat(50)}  v2: 60/120 healthy, v1: 60 still serving`, `         ${"#".repeat(10)}${"o".repeat(40)}`, `         ${"o".repeat(20)}`]);
    expect(boardLines(many, { header: "h", color: true, elapsedMs: 0, notes: [] })[1]).toContain("\x1b[32m#\x1b[0m");
  });

  it("cuts a line to the terminal's width by what shows, closing a colour it cut into", () => {
    expect(fitLine("abcdef", 4)).toBe("abcd");
    expect(fitLine("\x1b[32m#\x1b[0m\x1b[32m#\x1b[0m\x1b[2mooo\x1b[0m", 3)).toBe("\x1b[32m#\x1b[0m\x1b[32m#\x1b[0m\x1b[2mo\x1b[0m");
    expect(fitLine("short", 80)).toBe("short");
  });
});
