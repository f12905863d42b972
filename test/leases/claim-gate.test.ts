// The claim gate lets at most its bound of claims work at once; the rest wait their turn and all finish.
import { describe, expect, it } from "vitest";
import { ClaimGate } from "../../worker/leases/claim";

describe("ClaimGate", () => {
  it("never runs more than its bound at once, and runs every claim", async () => {
    const gate = new ClaimGate(3);
    let active = 0;
    let most = 0;
    const done: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        gate.run(async () => {
          active++;
          most = Math.max(most, active);
          await new Promise((r) => setTimeout(r, 1 + (i % 4)));
          active--;
          done.push(i);
        }),
      ),
    );
    expect(most).toBe(3);
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it("passes a failure to its caller and frees the slot", async () => {
    const gate = new ClaimGate(1);
    await expect(gate.run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(gate.run(() => Promise.resolve(7))).resolves.toBe(7);
  });
});
