// The Prometheus text exposition format (version 0.0.4), written by hand: the Worker's registry and the
// store-derived gauges use it, so the Worker bundle carries no metrics library.

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type MetricType = "counter" | "gauge" | "histogram";

export interface Sample {
  /** Appended to the family's name: "_bucket", "_sum", "_count", or "" for the value itself. */
  suffix: string;
  labels: readonly (readonly [string, string])[];
  value: number;
}

const escapeHelp = (text: string) => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const escapeLabel = (text: string) => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

/** One family: its HELP and TYPE lines and its samples, each line ending in a newline. */
export function writeFamily(name: string, type: MetricType, help: string, samples: readonly Sample[]): string {
  let out = `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
  for (const s of samples) {
    const labels = s.labels.length === 0 ? "" : `{${s.labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
    out += `${name}${s.suffix}${labels} ${formatValue(s.value)}\n`;
  }
  return out;
}
