// The control plane's log: leveled JSON lines whose level and message no field can replace, and request
// failures logged as fields (route pattern, method, status, error name) at the level they deserve.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createControlPlane } from "../../worker/app";
import { parseConfig } from "../../worker/config";
import { createJsonLogger } from "../../worker/log";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { expectProblem } from "./helpers";

describe("createJsonLogger", () => {
  it("writes one JSON line whose level and message fields cannot replace", () => {
    const lines: string[] = [];
    const log = createJsonLogger({ write: (l) => lines.push(l) });
    log("request failed", { message: "aborted", level: "debug", route: "/v1/jobs" });
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([{ level: "error", message: "request failed", route: "/v1/jobs" }]);
  });

  it("drops entries below its level, and escapes and clips client text", () => {
    const lines: string[] = [];
    const log = createJsonLogger({ minLevel: "info", write: (l) => lines.push(l) });
    log("noise", {}, "debug");
    log("went away", { reason: `x\n{"level":"error","message":"forged"}${"y".repeat(2_000)}` }, "info");
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain("\n");
    const entry = JSON.parse(lines[0]!) as { level: string; reason: string };
    expect(entry.level).toBe("info");
    expect(entry.reason.length).toBeLessThanOrEqual(513);
  });
});

describe("request failure logs", () => {
  let cp: TestControlPlane;
  const lines: Record<string, unknown>[] = [];
  const app = () =>
    createControlPlane({ store: cp.store, keys: cp.keys, clock: cp.clock, config: parseConfig({}), log: createJsonLogger({ minLevel: "debug", write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }) }).app;

  beforeEach(async () => {
    cp = await createTestControlPlane();
    lines.length = 0;
  });

  afterEach(() => {
    cp.close();
  });

  it("logs an internal failure at error as fields: route pattern, method, status, error name; no stack", async () => {
    const server = app();
    cp.store.client.close();
    const res = await server.request("/v1/nodes/some-node", { headers: { authorization: `Bearer ${cp.adminToken}` } });
    await expectProblem(res, 500, "internal");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "error", message: "request failed", method: "GET", route: "/v1/nodes/:id", status: 500 });
    expect(typeof lines[0]!["error"]).toBe("string");
    expect(JSON.stringify(lines[0])).not.toMatch(/\n\s+at |some-node/);
  });

  it("logs a refused request at debug only, with its route pattern and problem kind", async () => {
    const res = await app().request("/v1/nodes/some-node", { headers: { authorization: "Bearer nope" } });
    await expectProblem(res, 401, "unauthorized");
    expect(lines).toEqual([{ level: "debug", message: "request refused", method: "GET", route: "/v1/nodes/:id", status: 401, problem: "unauthorized" }]);
  });
});
