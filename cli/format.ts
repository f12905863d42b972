// Plain-text output helpers: aligned columns, short ids and ages.

/** Left-aligned columns separated by two spaces; no trailing whitespace. */
export function formatTable(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ").trimEnd()).join("\n") + "\n";
}

/** Label/value lines, values aligned. */
export function formatFields(fields: [string, string][]): string {
  const width = Math.max(...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${(k + ":").padEnd(width + 1)}  ${v}`).join("\n") + "\n";
}

/** Task and node ids are UUIDs; eight characters tell them apart in practice. */
export const shortId = (id: string) => id.slice(0, 8);

/** "4s", "3m", "2h", "5d": how long ago `at` was. */
export function formatAge(at: number | null, now: number): string {
  if (at === null) return "never";
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.round(h / 24)}d`;
}

/** "2026-12-01 16:10:54": a time as the event tables show it, in UTC. */
export const formatUtc = (at: number) => new Date(at).toISOString().replace("T", " ").slice(0, 19);

/** A message as one line: an agent's error (a pull failure, a daemon's answer) may span several. */
export const oneLine = (text: string) => text.replace(/\s+/g, " ").trim();

export const dash = (v: string | number | null | undefined) => (v === null || v === undefined || v === "" ? "-" : String(v));

export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}

/** "12.5%": a task's cpu, in percent of one core. */
export const formatCpu = (percent: number) => `${percent < 10 ? percent.toFixed(1) : Math.round(percent)}%`;

/** "48.2MiB", "1.1GiB": memory as `docker stats` shows it. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value}B` : `${value.toFixed(1)}${units[unit]}`;
}

/** "48.2MiB / 64.0MiB" with a limit, the usage alone without one. */
export const formatMemory = (bytes: number, limit: number | null) => (limit === null ? formatBytes(bytes) : `${formatBytes(bytes)} / ${formatBytes(limit)}`);
