import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { earliestWake } from "./wake-timer";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("earliestWake", () => {
  it("wakes at each time asked for, earliest first, with one timer", () => {
    const schedule = earliestWake();
    const woken: number[] = [];
    const start = Date.now();
    const wake = () => woken.push(Date.now() - start);
    schedule(3_000, wake);
    schedule(1_000, wake);
    schedule(2_000, wake);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(5_000);
    expect(woken.map((ms) => Math.round(ms / 100) * 100)).toEqual([1_000, 2_000, 3_000]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("asks once for the same instant", () => {
    const schedule = earliestWake();
    let n = 0;
    schedule(500, () => n++);
    schedule(500, () => n++);
    vi.advanceTimersByTime(1_000);
    expect(n).toBe(1);
  });
});
