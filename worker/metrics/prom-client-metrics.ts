// Metrics on Node: the catalog's counters and histograms in a prom-client registry, with Node's process
// metrics beside them. Node only (worker/node.ts injects it): the Worker bundle must not carry prom-client,
// so nothing the Worker imports may import this file (index.ts does not re-export it).
import { Counter, Histogram, Registry } from "prom-client";
import { collectProcessMetrics } from "../../lib/process-metrics";
import { COUNTERS, HISTOGRAMS, type CounterName, type HistogramName } from "./catalog";
import type { Metrics } from "./metrics";

type LooseLabels = Readonly<Record<string, string>>;

export interface PromClientMetrics extends Metrics {
  readonly registry: Registry;
}

export function createPromClientMetrics(opts: { processMetrics?: boolean } = {}): PromClientMetrics {
  const registry = new Registry();
  if (opts.processMetrics) collectProcessMetrics(registry);
  const registers = [registry];
  const counters = new Map<CounterName, Counter>();
  for (const [name, spec] of Object.entries(COUNTERS) as [CounterName, (typeof COUNTERS)[CounterName]][]) {
    const counter = new Counter({ name, help: spec.help, labelNames: [...spec.labels], registers });
    for (const value of "initial" in spec ? spec.initial : []) counter.inc({ [spec.labels[0] as string]: value }, 0);
    counters.set(name, counter);
  }
  const histograms = new Map<HistogramName, Histogram>();
  for (const [name, spec] of Object.entries(HISTOGRAMS) as [HistogramName, (typeof HISTOGRAMS)[HistogramName]][]) {
    histograms.set(name, new Histogram({ name, help: spec.help, labelNames: [...spec.labels], buckets: [...spec.buckets], registers }));
  }

  // Children bound to their label values, kept by those values: prom-client otherwise hashes the label
  // object (keys sorted) on every call, and these calls sit on every request and store round trip.
  const counterChildren = new Map<string, { inc(by: number): void }>();
  const histogramChildren = new Map<string, { observe(seconds: number): void }>();
  const valuesOf = (names: readonly string[], labels: LooseLabels) => names.map((k) => labels[k] ?? "");

  return {
    registry,
    inc(name, labels, by = 1) {
      const values = valuesOf(COUNTERS[name].labels, labels as LooseLabels);
      const key = `${name}\u0000${values.join("\u0000")}`;
      let child = counterChildren.get(key);
      if (!child) counterChildren.set(key, (child = (counters.get(name) as Counter).labels(...values)));
      child.inc(by);
    },
    observe(name, labels, seconds) {
      const values = valuesOf(HISTOGRAMS[name].labels, labels as LooseLabels);
      const key = `${name}\u0000${values.join("\u0000")}`;
      let child = histogramChildren.get(key);
      if (!child) histogramChildren.set(key, (child = (histograms.get(name) as Histogram).labels(...values)));
      child.observe(seconds);
    },
    text: () => registry.metrics(),
  };
}
