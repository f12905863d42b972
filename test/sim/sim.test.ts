// The simulator in npm test: a fixed seed range (about a minute and a half on two cores), every regression
// seed, and a replay check that the same seed gives the same trace. Longer soaks: `npm run sim -- --seeds N`.
import { describe, expect, it } from "vitest";
import { REGRESSION_SEEDS } from "./regressions";
import { runSeed, type RunResult } from "./simulate";

/** Seeds 1..SEEDS run on every test run; raise it for a longer soak, or use `npm run sim -- --seeds N`. */
const SEEDS = 24;
const SEED_TIMEOUT_MS = 60_000;

function expectClean(r: RunResult): void {
  // The violation's message carries the seed, the check and the last steps of the trace.
  if (r.violation) throw r.violation;
  expect(r.convergedAfterMs).not.toBeNull();
  expect(r.convergedAfterMs ?? Infinity).toBeLessThanOrEqual(r.boundMs);
}

describe("fault simulator", () => {
  it("replays a seed exactly: same seed, same trace", async () => {
    const [a, b, other] = [await runSeed({ seed: 7, faultMs: 8_000 }), await runSeed({ seed: 7, faultMs: 8_000 }), await runSeed({ seed: 8, faultMs: 8_000 })];
    expect(a.steps).toBeGreaterThan(50);
    expect(b.digest).toBe(a.digest);
    expect(b.steps).toBe(a.steps);
    // The digest must see the run: another seed hashes differently.
    expect(other.digest).not.toBe(a.digest);
  }, 3 * SEED_TIMEOUT_MS);

  for (let seed = 1; seed <= SEEDS; seed++) {
    const known = REGRESSION_SEEDS.find((r) => r.seed === seed);
    it(`seed ${seed}${known ? ` (regression: ${known.found})` : ""}`, async () => expectClean(await runSeed({ seed })), SEED_TIMEOUT_MS);
  }

  // Regression seeds inside the range already ran above.
  for (const { seed, found } of REGRESSION_SEEDS.filter((r) => r.seed > SEEDS)) {
    it(`regression seed ${seed} (${found})`, async () => expectClean(await runSeed({ seed })), SEED_TIMEOUT_MS);
  }
});
