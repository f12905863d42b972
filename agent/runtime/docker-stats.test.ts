// statsSampleOf: the engine's stats reply as CPU and memory figures (cgroup v1 and v2 replies).
import type Dockerode from "dockerode";
import { describe, expect, it } from "vitest";
import { statsSampleOf } from "./docker-stats";

/** A reply with only the fields the conversion reads; the rest of the engine's reply does not matter here. */
function reply(fields: { total: number; preTotal: number; system: number; preSystem: number; cpus?: number; usage?: number; limit?: number; stats?: Record<string, number> }): Dockerode.ContainerStats {
  return {
    cpu_stats: { cpu_usage: { total_usage: fields.total }, system_cpu_usage: fields.system, ...(fields.cpus !== undefined ? { online_cpus: fields.cpus } : {}) },
    precpu_stats: { cpu_usage: { total_usage: fields.preTotal }, system_cpu_usage: fields.preSystem },
    memory_stats: { ...(fields.usage !== undefined ? { usage: fields.usage } : {}), ...(fields.limit !== undefined ? { limit: fields.limit } : {}), stats: fields.stats ?? {} },
  } as unknown as Dockerode.ContainerStats;
}

describe("statsSampleOf", () => {
  it("gives the CPU time used in seconds and the share of a core over the last interval", () => {
    // 0.5 s of CPU in 2 s of system time on 2 cores: half of one core.
    const s = statsSampleOf(reply({ total: 3_250_000_000, preTotal: 2_750_000_000, system: 12e9, preSystem: 10e9, cpus: 2, usage: 0 }));
    expect(s.cpuSeconds).toBeCloseTo(3.25, 9);
    expect(s.cpuPercent).toBeCloseTo(50, 9);
  });

  it("leaves page cache that can be dropped out of memory used, under cgroup v2 and v1 names", () => {
    const v2 = statsSampleOf(reply({ total: 0, preTotal: 0, system: 0, preSystem: 0, usage: 10_000_000, limit: 64 * 1_048_576, stats: { inactive_file: 4_000_000 } }));
    expect(v2.memoryBytes).toBe(6_000_000);
    expect(v2.memoryLimitBytes).toBe(64 * 1_048_576);
    const v1 = statsSampleOf(reply({ total: 0, preTotal: 0, system: 0, preSystem: 0, usage: 10_000_000, stats: { total_inactive_file: 1_000_000, inactive_file: 4_000_000 } }));
    expect(v1.memoryBytes).toBe(9_000_000);
  });

  it("reads an empty reply (a container that just exited) as nothing used, not as NaN", () => {
    const s = statsSampleOf({} as Dockerode.ContainerStats);
    expect(s).toEqual({ cpuPercent: 0, cpuSeconds: 0, memoryBytes: 0, memoryLimitBytes: 0 });
  });
});
