// Exponential backoff with full jitter: an agent never hammers a control plane that is down.
export interface Backoff {
  /** The next wait, growing from `baseMs` to `maxMs`. */
  next(): number;
  reset(): void;
  readonly failures: number;
}

export function createBackoff(opts: { baseMs?: number; maxMs?: number; random?: () => number } = {}): Backoff {
  const base = opts.baseMs ?? 500;
  const max = opts.maxMs ?? 30_000;
  const random = opts.random ?? Math.random;
  let failures = 0;
  return {
    next() {
      const ceiling = Math.min(max, base * 2 ** failures);
      failures++;
      // Full jitter (uniform in [ceiling/2, ceiling]) keeps a fleet that lost its control plane from retrying in step.
      return Math.round(ceiling / 2 + (random() * ceiling) / 2);
    },
    reset() {
      failures = 0;
    },
    get failures() {
      return failures;
    },
  };
}
