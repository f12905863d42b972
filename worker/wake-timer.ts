// The Node entry's wake-ups for evaluations held back by time (see AppDeps.scheduleWake).
/** Wake times kept at most; beyond them the sweep runs what is due, as it always does. */
const MAX_WAKES = 1_000;

/** One timer, for the earliest wake asked for; the later ones follow it. */
export function earliestWake(): (delayMs: number, wake: () => void) => void {
  let pending: number[] = [];
  let armed: { at: number; timer: NodeJS.Timeout } | null = null;
  let run: () => void = () => undefined;
  const arm = () => {
    const at = pending[0];
    if (at === undefined || (armed !== null && armed.at <= at)) return;
    if (armed !== null) clearTimeout(armed.timer);
    const timer = setTimeout(() => {
      armed = null;
      const now = Date.now();
      pending = pending.filter((t) => t > now);
      run();
      arm();
    }, Math.max(0, at - Date.now()) + 10);
    timer.unref();
    armed = { at, timer };
  };
  return (delayMs, wake) => {
    run = wake;
    const at = Date.now() + delayMs;
    if (!pending.includes(at)) {
      pending.push(at);
      pending.sort((x, y) => x - y);
      if (pending.length > MAX_WAKES) pending.length = MAX_WAKES;
    }
    arm();
  };
}
