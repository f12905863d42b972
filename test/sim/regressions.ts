// Seeds that found a control-plane bug: each runs in npm test forever after, with what it found.
// (A seed's run depends on the control plane's code too: after a fix, a seed may take another path.)
export const REGRESSION_SEEDS: { seed: number; found: string }[] = [
  { seed: 14, found: "convergence: leases of desired-stop copies no agent holds keep being extended, so a stop-first slot never frees" },
];
