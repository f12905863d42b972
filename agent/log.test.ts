import { describe, expect, it } from "vitest";
import { createLogger } from "./log";

describe("createLogger", () => {
  it("writes pino JSON lines with their level, message and fields, from the level asked for up", () => {
    const out: string[] = [];
    const log = createLogger({ level: "info", destination: { write: (line: string) => void out.push(line) } });
    log.debug("not shown");
    log.info("enrolled", { nodeId: "n1" });
    log.warn("control plane unreachable since 2026-01-01T00:00:00.000Z");
    log.error("reconcile failed", { error: "boom" });
    const lines = out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l["level"], l["msg"]])).toEqual([
      [30, "enrolled"],
      [40, "control plane unreachable since 2026-01-01T00:00:00.000Z"],
      [50, "reconcile failed"],
    ]);
    expect(lines[0]).toMatchObject({ nodeId: "n1" });
    expect(lines[2]).toMatchObject({ error: "boom" });
    expect(typeof lines[0]?.["time"]).toBe("string");
  });

  it("hands a sink each line with its level as a field", () => {
    const seen: [string, unknown][] = [];
    const log = createLogger({ level: "warn", sink: (message, fields) => seen.push([message, fields?.["level"]]) });
    log.info("quiet");
    log.warn("loud", { a: 1 });
    expect(seen).toEqual([["loud", "warn"]]);
  });
});
