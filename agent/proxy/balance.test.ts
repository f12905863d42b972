import { describe, expect, it } from "vitest";
import type { Endpoint } from "../../api/services";
import { pickTarget, reachableTargets, type PickState, type Target } from "./balance";

const caller = { nodeId: "n-here", region: "eu" };

function endpoint(taskId: string, at: { nodeId?: string; region?: string; healthy?: boolean; addresses?: Endpoint["addresses"]; port?: number; meshPort?: number | null } = {}): Endpoint {
  return {
    taskId,
    jobId: "j",
    slot: 0,
    version: 1,
    nodeId: at.nodeId ?? "n-other",
    nodeName: "other",
    region: at.region ?? "eu",
    addresses: at.addresses ?? [
      { address: "10.0.0.9", scope: "region" },
      { address: "203.0.113.9", scope: "public" },
    ],
    meshPort: at.meshPort === undefined ? 7701 : at.meshPort,
    port: at.port ?? 30000,
    tags: [],
    healthy: at.healthy ?? true,
  };
}

const state = (over: Partial<PickState> = {}): PickState => ({ turn: 0, active: new Map(), avoid: new Set(), ...over });

describe("reachableTargets", () => {
  it("orders same node, then same region, then elsewhere, dialling the address each tier can reach", () => {
    const targets = reachableTargets(
      [
        endpoint("far", { nodeId: "n-us", region: "us" }),
        endpoint("lan", { nodeId: "n-eu", region: "eu", port: 31000 }),
        endpoint("local", { nodeId: "n-here", port: 32000 }),
      ],
      caller,
    );
    expect(targets).toEqual([
      { taskId: "local", nodeId: "n-here", address: "127.0.0.1", port: 32000, tier: 0, meshPort: null },
      { taskId: "lan", nodeId: "n-eu", address: "10.0.0.9", port: 31000, tier: 1, meshPort: 7701 },
      { taskId: "far", nodeId: "n-us", address: "203.0.113.9", port: 30000, tier: 2, meshPort: 7701 },
    ]);
  });

  it("reaches another node's endpoint only through its mesh port: none, and it is out of reach", () => {
    const targets = reachableTargets(
      [endpoint("lan-no-mesh", { nodeId: "n-eu", meshPort: null }), endpoint("local-no-mesh", { nodeId: "n-here", meshPort: null }), endpoint("lan", { nodeId: "n-eu2", meshPort: 7800 })],
      caller,
    );
    expect(targets.map((x) => [x.taskId, x.meshPort])).toEqual([
      ["local-no-mesh", null],
      ["lan", 7800],
    ]);
  });

  it("leaves out unhealthy endpoints and those with no address this node can reach", () => {
    const targets = reachableTargets(
      [
        endpoint("sick", { healthy: false }),
        endpoint("private-elsewhere", { region: "us", addresses: [{ address: "10.1.0.1", scope: "region" }] }),
        endpoint("no-address", { addresses: [] }),
        endpoint("ok"),
      ],
      caller,
    );
    expect(targets.map((t) => t.taskId)).toEqual(["ok"]);
  });

  it("counts a region endpoint that only advertises a public address as farther", () => {
    const [t] = reachableTargets([endpoint("public-only", { addresses: [{ address: "203.0.113.1", scope: "public" }] })], caller);
    expect(t).toMatchObject({ address: "203.0.113.1", tier: 2 });
  });
});

const t = (taskId: string, tier: 0 | 1 | 2): Target => ({ taskId, nodeId: `n-${taskId}`, address: "127.0.0.1", port: 1, tier, meshPort: tier > 0 ? 7701 : null });

describe("pickTarget", () => {
  it("round-robin takes turns within the nearest tier only", () => {
    const targets = [t("a", 1), t("b", 1), t("c", 2)];
    const picks = [0, 1, 2, 3].map((turn) => pickTarget(targets, "round-robin", state({ turn }))?.taskId);
    expect(picks).toEqual(["a", "b", "a", "b"]);
  });

  it("goes to a farther tier when every nearer target is to be avoided, and back when one is not", () => {
    const targets = [t("near", 0), t("lan", 1), t("far", 2)];
    expect(pickTarget(targets, "round-robin", state({ avoid: new Set(["near"]) }))?.taskId).toBe("lan");
    expect(pickTarget(targets, "round-robin", state({ avoid: new Set(["near", "lan"]) }))?.taskId).toBe("far");
    expect(pickTarget(targets, "round-robin", state())?.taskId).toBe("near");
  });

  it("tries the nearest tier anyway when every target is to be avoided, and none when there is none", () => {
    const targets = [t("b", 1), t("a", 0)];
    expect(pickTarget(targets, "least-connections", state({ avoid: new Set(["a", "b"]) }))?.taskId).toBe("a");
    expect(pickTarget([], "round-robin", state())).toBeUndefined();
  });

  it("least-connections takes the least loaded target of the nearest tier, taking turns among ties", () => {
    const targets = [t("a", 1), t("b", 1), t("c", 1), t("far", 2)];
    const active = new Map([
      ["a", 3],
      ["b", 1],
      ["c", 1],
      ["far", 0],
    ]);
    expect(pickTarget(targets, "least-connections", state({ active, turn: 0 }))?.taskId).toBe("b");
    expect(pickTarget(targets, "least-connections", state({ active, turn: 1 }))?.taskId).toBe("c");
    expect(pickTarget(targets, "least-connections", state({ active: new Map([["a", 1]]), turn: 0 }))?.taskId).toBe("b");
  });

  it("spreads evenly under round-robin and keeps loads level under least-connections", () => {
    const targets = [t("a", 0), t("b", 0), t("c", 0)];
    const counts = new Map<string, number>();
    for (let turn = 0; turn < 300; turn++) {
      const id = pickTarget(targets, "round-robin", state({ turn }))!.taskId;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([100, 100, 100]);
    const active = new Map<string, number>();
    for (let turn = 0; turn < 30; turn++) {
      const id = pickTarget(targets, "least-connections", state({ turn, active }))!.taskId;
      active.set(id, (active.get(id) ?? 0) + 1);
      const loads = targets.map((x) => active.get(x.taskId) ?? 0);
      expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(1);
    }
  });
});
