// The dependency-free registry: counters and histograms of the catalog in plain maps, written out with
// text.ts. The Worker keeps one per isolate (worker/index.ts); a control plane given no Metrics makes its own.
import { COUNTERS, HISTOGRAMS, type CounterName, type HistogramName } from "./catalog";
import type { Metrics } from "./metrics";
import { writeFamily, type Sample } from "./text";

interface CounterSeries {
  values: readonly string[];
  value: number;
}

interface HistogramSeries {
  values: readonly string[];
  /** Observations per bucket, not cumulative; the last slot is past the largest bound (+Inf). */
  counts: number[];
  sum: number;
  count: number;
}

type LooseLabels = Readonly<Record<string, string>>;

export function createMetricsRegistry(): Metrics {
  const counters = new Map<CounterName, Map<string, CounterSeries>>();
  const histograms = new Map<HistogramName, Map<string, HistogramSeries>>();

  function counterSeries(name: CounterName, values: readonly string[]): CounterSeries {
    let family = counters.get(name);
    if (!family) counters.set(name, (family = new Map()));
    const key = values.join("\u0000");
    let series = family.get(key);
    if (!series) family.set(key, (series = { values, value: 0 }));
    return series;
  }

  function histogramSeries(name: HistogramName, values: readonly string[]): HistogramSeries {
    let family = histograms.get(name);
    if (!family) histograms.set(name, (family = new Map()));
    const key = values.join("\u0000");
    let series = family.get(key);
    if (!series) family.set(key, (series = { values, counts: new Array<number>(HISTOGRAMS[name].buckets.length + 1).fill(0), sum: 0, count: 0 }));
    return series;
  }

  // As prom-client shows them: a series without labels from the start, and the fixed values of a counter at 0.
  for (const [name, spec] of Object.entries(COUNTERS) as [CounterName, (typeof COUNTERS)[CounterName]][]) {
    if (spec.labels.length === 0) counterSeries(name, []);
    for (const value of "initial" in spec ? spec.initial : []) counterSeries(name, [value]);
  }
  for (const [name, spec] of Object.entries(HISTOGRAMS) as [HistogramName, (typeof HISTOGRAMS)[HistogramName]][]) {
    if (spec.labels.length === 0) histogramSeries(name, []);
  }

  return {
    inc(name, labels, by = 1) {
      const l = labels as LooseLabels;
      counterSeries(name, COUNTERS[name].labels.map((k) => l[k] ?? "")).value += by;
    },
    observe(name, labels, seconds) {
      const l = labels as LooseLabels;
      const { buckets, labels: names } = HISTOGRAMS[name];
      const series = histogramSeries(name, names.map((k) => l[k] ?? ""));
      let i = 0;
      while (i < buckets.length && seconds > (buckets[i] as number)) i++;
      series.counts[i] = (series.counts[i] ?? 0) + 1;
      series.sum += seconds;
      series.count++;
    },
    async text() {
      let out = "";
      for (const [name, spec] of Object.entries(COUNTERS) as [CounterName, (typeof COUNTERS)[CounterName]][]) {
        const samples = [...(counters.get(name)?.values() ?? [])].map((s): Sample => ({ suffix: "", labels: zip(spec.labels, s.values), value: s.value }));
        out += writeFamily(name, "counter", spec.help, samples);
      }
      for (const [name, spec] of Object.entries(HISTOGRAMS) as [HistogramName, (typeof HISTOGRAMS)[HistogramName]][]) {
        const samples: Sample[] = [];
        for (const s of histograms.get(name)?.values() ?? []) {
          const labels = zip(spec.labels, s.values);
          let cumulative = 0;
          spec.buckets.forEach((le, i) => {
            cumulative += s.counts[i] ?? 0;
            samples.push({ suffix: "_bucket", labels: [...labels, ["le", String(le)]], value: cumulative });
          });
          samples.push({ suffix: "_bucket", labels: [...labels, ["le", "+Inf"]], value: s.count });
          samples.push({ suffix: "_sum", labels, value: s.sum }, { suffix: "_count", labels, value: s.count });
        }
        out += writeFamily(name, "histogram", spec.help, samples);
      }
      return out;
    },
  };
}

function zip(names: readonly string[], values: readonly string[]): [string, string][] {
  return names.map((n, i) => [n, values[i] ?? ""]);
}
