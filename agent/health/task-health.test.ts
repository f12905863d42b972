// A job's health block, as the control plane validates it and a lease carries it, read into the check the agent runs.
import { describe, expect, it } from "vitest";
import { healthCheckSchema, jobSpecSchema } from "../../api/job-spec";
import { taskHealthOf } from "./task-health";

const ports = [{ name: "http", container: 8080, protocol: "tcp" as const }];

describe("taskHealthOf", () => {
  it("reads the check with its timing, and restart as what an unhealthy task gets when the spec names nothing", () => {
    const spec = jobSpecSchema.parse({
      name: "web",
      image: "busybox",
      ports: [{ name: "http", container: 8080 }],
      health: { type: "http", port: "http", path: "/healthz", interval: "5s", timeout: "1s", failures: 2 },
    });
    // No default is written into the stored spec: jobs applied before the field existed keep their version.
    expect(spec.health).not.toHaveProperty("onFailure");
    expect(taskHealthOf({ health: spec.health, ports })).toEqual({
      check: { type: "http", port: 8080, path: "/healthz", intervalMs: 5_000, timeoutMs: 1_000, failures: 2, graceMs: 0 },
      onFailure: "restart",
    });
  });

  it("reads onFailure and grace as written", () => {
    const ignore = healthCheckSchema.parse({ type: "exec", command: ["false"], grace: "30s", onFailure: "ignore" });
    expect(taskHealthOf({ health: ignore, ports: [] })).toEqual({
      check: { type: "exec", command: ["false"], intervalMs: 10_000, timeoutMs: 2_000, failures: 3, graceMs: 30_000 },
      onFailure: "ignore",
    });
    const restart = healthCheckSchema.parse({ type: "tcp", port: "http", onFailure: "restart" });
    expect(taskHealthOf({ health: restart, ports })?.onFailure).toBe("restart");
  });

  it("refuses an onFailure it does not know, and has no check for a port the task lacks", () => {
    expect(healthCheckSchema.safeParse({ type: "tcp", port: "http", onFailure: "kill" }).success).toBe(false);
    expect(taskHealthOf({ health: healthCheckSchema.parse({ type: "tcp", port: "admin" }), ports })).toBeNull();
    expect(taskHealthOf({ health: undefined, ports })).toBeNull();
  });
});
