// The store's clock as an instance sees it: follows a faster mark, within bounds, and never reads backwards.
import { describe, expect, it } from "vitest";
import { ManualClock } from "./clock";
import { StoreClock } from "./store-clock";

describe("StoreClock", () => {
  it("follows a mark ahead of it at once the first time, then by at most a tenth of its bound per observation", () => {
    const local = new ManualClock(1_000_000);
    const clock = new StoreClock(local, 3_000);
    clock.observe(1_002_500, local.now());
    expect(clock.now()).toBe(1_002_500);
    const other = new StoreClock(new ManualClock(1_000_000), 3_000);
    other.observe(1_000_000, 1_000_000);
    other.observe(1_002_500, 1_000_000);
    expect(other.now()).toBe(1_000_300);
  });

  it("follows no further than its bound, and never reads earlier than it has when the mark falls behind", () => {
    const local = new ManualClock(1_000_000);
    const clock = new StoreClock(local, 3_000);
    clock.observe(1_060_000, local.now());
    expect(clock.now()).toBe(1_003_000);
    local.advance(100);
    // The mark is now behind this clock (its leader stopped, or it was never ahead): no step back.
    clock.observe(local.now(), local.now());
    expect(clock.now()).toBe(1_003_000);
    local.advance(5_000);
    expect(clock.now()).toBeGreaterThanOrEqual(1_008_000 - 100);
    expect(clock.now() - local.now()).toBeLessThanOrEqual(3_000);
  });

  it("publishes its offset clock, so instances carry a faster timeline on together", () => {
    const local = new ManualClock(1_000_000);
    const clock = new StoreClock(local, 3_000);
    clock.observe(1_002_000, local.now());
    local.advance(1_000);
    expect(clock.published(local.now())).toBe(1_003_000);
  });
});
