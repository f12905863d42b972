// The hand-written exposition format: escaping in help and label values, and the special values.
import { describe, expect, it } from "vitest";
import { createMetricsRegistry } from "./registry";
import { formatValue, writeFamily } from "./text";

describe("the text exposition writer", () => {
  it("escapes backslashes and line breaks in help, and quotes too in label values", () => {
    const text = writeFamily("x_total", "counter", "a \\ b\nc", [{ suffix: "", labels: [["route", 'say "hi"\\\n']], value: 2 }]);
    expect(text).toBe('# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\nx_total{route="say \\"hi\\"\\\\\\n"} 2\n');
  });

  it("writes infinities and NaN as the format spells them", () => {
    expect([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 0.25, 3].map(formatValue)).toEqual(["+Inf", "-Inf", "NaN", "0.25", "3"]);
  });

  it("keeps histogram buckets cumulative, +Inf equal to the count", async () => {
    const metrics = createMetricsRegistry();
    for (const seconds of [0.0001, 0.003, 0.003, 99]) metrics.observe("leasehold_store_duration_seconds", { op: "write" }, seconds);
    const lines = (await metrics.text()).split("\n").filter((l) => l.startsWith("leasehold_store_duration_seconds"));
    expect(lines).toContain('leasehold_store_duration_seconds_bucket{op="write",le="0.0005"} 1');
    expect(lines).toContain('leasehold_store_duration_seconds_bucket{op="write",le="0.005"} 3');
    expect(lines).toContain('leasehold_store_duration_seconds_bucket{op="write",le="10"} 3');
    expect(lines).toContain('leasehold_store_duration_seconds_bucket{op="write",le="+Inf"} 4');
    expect(lines).toContain('leasehold_store_duration_seconds_count{op="write"} 4');
    expect(lines.find((l) => l.startsWith('leasehold_store_duration_seconds_sum{op="write"} '))).toMatch(/ 99\.006/);
  });
});
