// retryMax: counts only fruitless attempts, and stops at the total bound.
import { describe, expect, it } from "vitest";
import { retryMax } from "./retry";

describe("retryMax", () => {
  it("stops after the given number of fruitless attempts in a row", async () => {
    const r = await retryMax(3, 100, async () => ({ done: false, progress: false, value: null }));
    expect(r.attempts).toBe(3);
  });

  it("resets the count whenever an attempt made progress, up to the total", async () => {
    const r = await retryMax(2, 7, async (n) => ({ done: false, progress: n % 2 === 0, value: n }));
    expect(r.attempts).toBe(7);
    const done = await retryMax(2, 7, async (n) => ({ done: n === 4, progress: true, value: n }));
    expect(done).toMatchObject({ attempts: 4, value: 4, done: true });
  });
});
