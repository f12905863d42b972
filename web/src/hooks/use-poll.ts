// Data that keeps itself current: loaded at once, then again every interval while the tab is visible (and
// as soon as it becomes visible), or whenever refresh() is called (an event arrived, an action finished).
// A load never overlaps the previous one, and an answer to a superseded request is dropped.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { useVisible } from "./use-visible";

export const POLL_MS = 2_000;

export interface Polled<T> {
  data: T | undefined;
  /** The last load's failure; cleared by the next success. The last good data stays. */
  error: unknown;
  /** Loads again now (coalesced with one under way). */
  refresh(): void;
}

export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], intervalMs: number | null = POLL_MS): Polled<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown }>({ data: undefined, error: undefined });
  const visible = useVisible();
  const run = useRef<() => void>(() => undefined);
  // Read when each wait starts, so a new interval takes effect without starting over.
  const interval = useRef(intervalMs);
  interval.current = intervalMs;

  useEffect(() => {
    setState({ data: undefined, error: undefined });
    const abort = new AbortController();
    let busy = false;
    let again = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      clearTimeout(timer);
      try {
        const data = await load(abort.signal);
        if (!abort.signal.aborted) setState({ data, error: undefined });
      } catch (error) {
        if (!abort.signal.aborted) setState((s) => ({ data: s.data, error }));
      } finally {
        busy = false;
      }
      if (abort.signal.aborted) return;
      if (again) {
        again = false;
        void tick();
      } else if (interval.current !== null && document.visibilityState === "visible") {
        timer = setTimeout(() => void tick(), interval.current);
      }
    };
    run.current = () => void tick();
    void tick();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, deps);

  // Shown again after being hidden: catch up at once (the timer stopped while hidden).
  const wasVisible = useRef(visible);
  useEffect(() => {
    if (visible && !wasVisible.current) run.current();
    wasVisible.current = visible;
  }, [visible]);

  const refresh = useCallback(() => run.current(), []);
  return { ...state, refresh };
}
