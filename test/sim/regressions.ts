// Seeds that once found a control-plane bug: each runs in npm test forever after, with what it found.
export const REGRESSION_SEEDS: { seed: number; found: string }[] = [];
