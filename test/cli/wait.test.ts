// When apply --wait stops: ready, given up (final), no room that stays no room, or the deadline; and what it prints.
import { describe, expect, it } from "vitest";
import type { JobDetail, Node, Task } from "../../cli/api-types";
import { readiness } from "../../cli/readiness";
import { EXIT } from "../../cli/exit-codes";
import { fleetFingerprint, NO_ROOM_SETTLE_MS, WaitJudge, waitFailure } from "../../cli/wait";

function task(slot: number, over: Partial<Task> = {}): Task {
  return { id: `t${slot}`, slot, version: 1, nodeId: "n1", state: "running", desired: "run", epoch: 1, leaseExpiresAt: null, health: null, exitCode: null, restarts: 0, attempt: 1, boundPorts: [], message: null, ...over };
}

function detail(tasks: Task[], replicas = tasks.length): JobDetail {
  return { job: { id: "default/web", namespace: "default", name: "web", type: "service", status: "running", version: 1, createdAt: 0, updatedAt: 0 }, spec: { replicas }, tasks, summary: {} };
}

const noRoom = (slot: number, reason = "no node with 250m cpu and 128MiB memory: 1 node short on cpu") => task(slot, { state: "pending", nodeId: null, message: reason });

function node(over: Partial<Node> = {}): Node {
  return { id: "n1", name: "node-a", region: "global", labels: {}, capacity: { cpu: 100, memory: 64 }, allocated: { cpu: 0, memory: 0, tasks: 0 }, state: "ready", eligible: true, lastHeartbeatAt: 1, ...over };
}

describe("WaitJudge", () => {
  it("gives up at once when a slot's task failed and is final, with its last error", () => {
    const judge = new WaitJudge();
    const seen = judge.observe(readiness(detail([task(0), task(1, { state: "failed", message: "pull access denied for nosuch/image", final: true })])), null, 0);
    expect(seen.verdict).toMatchObject({ kind: "gave-up", slots: [{ slot: 1, state: "failed", message: "pull access denied for nosuch/image" }] });
    // Without `final` (a control plane that predates it) the slot may still be replaced: keep waiting.
    expect(new WaitJudge().observe(readiness(detail([task(0, { state: "failed", message: "pull access denied" })])), null, 0).verdict.kind).toBe("waiting");
  });

  it("gives up on no room once the reasons and the fleet have stood still for the settle window", () => {
    const judge = new WaitJudge();
    const r = readiness(detail([task(0), noRoom(1)]));
    const fleet = fleetFingerprint([node()]);
    expect(judge.observe(r, fleet, 0).verdict.kind).toBe("waiting");
    expect(judge.observe(r, fleet, NO_ROOM_SETTLE_MS - 1).verdict.kind).toBe("waiting");
    expect(judge.observe(r, fleet, NO_ROOM_SETTLE_MS).verdict).toMatchObject({ kind: "unplaced", slots: [{ slot: 1, unplaced: "no node with 250m cpu and 128MiB memory: 1 node short on cpu" }] });
  });

  it("starts the window again when the fleet or the reasons change, and forgets it once the slot is placed", () => {
    const judge = new WaitJudge();
    const r = readiness(detail([noRoom(0)]));
    judge.observe(r, fleetFingerprint([node()]), 0);
    // A second node enrolls: it may have room, so the window starts again.
    const two = fleetFingerprint([node(), node({ id: "n2", name: "node-b" })]);
    expect(judge.observe(r, two, 1_500).verdict.kind).toBe("waiting");
    expect(judge.observe(r, two, 3_000).verdict.kind).toBe("waiting");
    // A new reason: the control plane looked again.
    const other = readiness(detail([noRoom(0, "no node with 250m cpu and 128MiB memory: 2 nodes short on cpu")]));
    expect(judge.observe(other, two, 3_400).verdict.kind).toBe("waiting");
    expect(judge.observe(other, two, 3_400 + NO_ROOM_SETTLE_MS).verdict.kind).toBe("unplaced");
    // Placed after all: the slot is on its way, and a later wait for room starts from nothing.
    expect(judge.observe(readiness(detail([task(0, { state: "placed" })])), null, 6_000).verdict.kind).toBe("waiting");
    expect(judge.observe(r, two, 6_500).verdict.kind).toBe("waiting");
    expect(judge.observe(r, two, 6_500 + NO_ROOM_SETTLE_MS).verdict.kind).toBe("unplaced");
  });

  it("does not take heartbeats for a changing fleet, but does take allocation", () => {
    expect(fleetFingerprint([node({ lastHeartbeatAt: 1 })])).toBe(fleetFingerprint([node({ lastHeartbeatAt: 2 })]));
    expect(fleetFingerprint([node()])).not.toBe(fleetFingerprint([node({ allocated: { cpu: 0, memory: 0, tasks: 1 } })]));
    expect(fleetFingerprint([node(), node({ id: "n2" })])).toBe(fleetFingerprint([node({ id: "n2" }), node()]));
  });

  it("reports progress when it changes, and a slot when it has something new to say", () => {
    const judge = new WaitJudge();
    const first = judge.observe(readiness(detail([task(0, { state: "placed" }), task(1, { state: "placed" })])), null, 0);
    expect(first).toMatchObject({ progress: "0/2 running, 0 healthy", slots: [] });
    const pulled = judge.observe(readiness(detail([task(0, { state: "failed", message: "pull access denied for nosuch/image" }), task(1, { state: "placed" })])), null, 500);
    expect(pulled.progress).toBeNull();
    expect(pulled.slots.map((s) => `slot ${s.slot}: ${s.phrase}`)).toEqual(["slot 0: failed (pull access denied for nosuch/image)"]);
    // The same again is not news; the same message in a new state is.
    expect(judge.observe(readiness(detail([task(0, { state: "failed", message: "pull access denied for nosuch/image" }), task(1, { state: "placed" })])), null, 1_000).slots).toEqual([]);
    const again = judge.observe(readiness(detail([task(0, { state: "placed", message: "pull access denied for nosuch/image" }), task(1)])), null, 1_500);
    expect(again.progress).toBe("1/2 running, 1 healthy");
    expect(again.slots.map((s) => s.phrase)).toEqual(["placed (pull access denied for nosuch/image)"]);
    expect(judge.observe(readiness(detail([task(0), task(1)])), null, 2_000)).toEqual({ verdict: { kind: "ready" }, progress: null, slots: [] });
  });

  it("at the deadline, says a slot waits for room rather than only that time ran out", () => {
    expect(WaitJudge.atDeadline(readiness(detail([noRoom(0)])))).toMatchObject({ kind: "unplaced" });
    expect(WaitJudge.atDeadline(readiness(detail([task(0, { state: "placed" })])))).toEqual({ kind: "timeout" });
  });
});

describe("waitFailure", () => {
  it("gives each end its own exit code and the slots' last word", () => {
    const gaveUp = readiness(detail([task(0), task(1, { state: "failed", message: "pull access denied for nosuch/image\nrepository does not exist", final: true })]));
    const failed = waitFailure("default/web", { kind: "gave-up", slots: gaveUp.slots.filter((s) => s.gaveUp) }, gaveUp, "0.5");
    expect(failed.exitCode).toBe(EXIT.failed);
    expect(failed.message).toBe("job default/web cannot become ready: slot 1 failed: pull access denied for nosuch/image repository does not exist (its reschedule attempts are spent: it is not replaced)");

    const full = readiness(detail([noRoom(0)]));
    const unplaced = waitFailure("default/web", { kind: "unplaced", slots: full.slots }, full, "2.1");
    expect(unplaced.exitCode).toBe(EXIT.unplaced);
    expect(unplaced.message).toBe("job default/web cannot be placed: slot 0: no node with 250m cpu and 128MiB memory: 1 node short on cpu; the job is stored, and its slots are placed once the fleet has room for them");

    const slow = readiness(detail([task(0, { state: "leased" })]));
    const timeout = waitFailure("default/web", { kind: "timeout" }, slow, "120.0");
    expect(timeout.exitCode).toBe(EXIT.timeout);
    expect(timeout.message).toBe("job default/web not ready after 120.0s: 0/1 running, 0 healthy; slot 0: leased");
  });
});
