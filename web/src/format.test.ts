import { describe, expect, it } from "vitest";
import { formatAgo, formatBytes, formatCores, formatIso } from "./format";

const now = Date.UTC(2026, 0, 2, 12, 0, 0);

describe("formatAgo", () => {
  it("says how long ago, in the largest unit that fits, rounding down", () => {
    expect(formatAgo(now, now)).toBe("just now");
    expect(formatAgo(now - 999, now)).toBe("just now");
    expect(formatAgo(now - 3_000, now)).toBe("3 s ago");
    expect(formatAgo(now - 59_999, now)).toBe("59 s ago");
    expect(formatAgo(now - 60_000, now)).toBe("1 min ago");
    expect(formatAgo(now - 59 * 60_000 - 59_000, now)).toBe("59 min ago");
    expect(formatAgo(now - 3_600_000, now)).toBe("1 h ago");
    expect(formatAgo(now - 47 * 3_600_000, now)).toBe("47 h ago");
    expect(formatAgo(now - 48 * 3_600_000, now)).toBe("2 d ago");
    expect(formatAgo(now - 400 * 86_400_000, now)).toBe("400 d ago");
  });

  it("says 'in' for a time ahead (a drain deadline, a clock ahead of ours)", () => {
    expect(formatAgo(now + 3_000, now)).toBe("in 3 s");
    expect(formatAgo(now + 90 * 60_000, now)).toBe("in 1 h");
  });
});

describe("the other formats", () => {
  it("writes the exact time as ISO 8601 UTC", () => {
    expect(formatIso(now - 3_000)).toBe("2026-01-02T11:59:57.000Z");
  });

  it("writes sizes in binary units and cores from millicores", () => {
    expect([0, 512, 1536, 64 * 1024 * 1024, 2.5 * 1024 ** 3, -1].map(formatBytes)).toEqual(["0 B", "512 B", "1.5 KiB", "64 MiB", "2.5 GiB", "-"]);
    expect([250, 2000, 1234].map(formatCores)).toEqual(["0.25", "2", "1.23"]);
  });
});
