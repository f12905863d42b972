// The port the control plane counts through: what the hot paths call, small enough for the Worker. Node
// implements it with prom-client (prom-client-metrics.ts); Workers and tests with registry.ts.
import type { CounterName, HistogramName, LabelsOf } from "./catalog";

export interface Metrics {
  /** Adds `by` (default 1) to a counter's series. */
  inc<N extends CounterName>(name: N, labels: LabelsOf<N>, by?: number): void;
  /** Records one observation, in seconds, in a histogram's series. */
  observe<N extends HistogramName>(name: N, labels: LabelsOf<N>, seconds: number): void;
  /** The counters and histograms of this process (isolate), in the text exposition format, ending in a newline. */
  text(): Promise<string>;
}

/** Seconds since `started` (a performance.now() reading): on Workers it moves only across I/O, which is what a store call or a request waits on. */
export function secondsSince(started: number): number {
  return (performance.now() - started) / 1000;
}
