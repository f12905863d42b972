// Retry as one named helper, as in Nomad's scheduler/util.go retryMax: attempts are counted only while they
// make no progress, so work that commits part of itself and loses a race on the rest goes on.
export interface Attempt<T> {
  done: boolean;
  progress: boolean;
  value: T;
}

/** Runs `attempt` until it is done, it made no progress `maxFruitless` times in a row, or `maxTotal` runs. */
export async function retryMax<T>(maxFruitless: number, maxTotal: number, attempt: (n: number) => Promise<Attempt<T>>): Promise<Attempt<T> & { attempts: number }> {
  let fruitless = 0;
  for (let n = 1; ; n++) {
    const outcome = await attempt(n);
    if (outcome.done) return { ...outcome, attempts: n };
    fruitless = outcome.progress ? 0 : fruitless + 1;
    if (fruitless >= maxFruitless || n >= maxTotal) return { ...outcome, attempts: n };
  }
}
