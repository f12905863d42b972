// How the dashboard writes times, sizes and ids: relative times ("3 s ago") with the exact time kept for
// a title, binary sizes, short ids. Pure, so they are tested on their own.

/** "just now", "3 s ago", "5 min ago", "2 h ago", "4 d ago"; a time ahead of `now` reads "in 3 s". */
export function formatAgo(at: number, now: number): string {
  const diff = now - at;
  const s = Math.floor(Math.abs(diff) / 1000);
  if (s === 0) return "just now";
  const span = s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min` : s < 48 * 3600 ? `${Math.floor(s / 3600)} h` : `${Math.floor(s / 86_400)} d`;
  return diff >= 0 ? `${span} ago` : `in ${span}`;
}

/** The exact time a relative one stands for: ISO 8601 in UTC. */
export function formatIso(at: number): string {
  return new Date(at).toISOString();
}

/** 512 B, 1.5 KiB, 64 MiB, 2.0 GiB. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** Millicores as cores: 250 → "0.25", 2000 → "2". */
export function formatCores(millicores: number): string {
  return String(Math.round(millicores / 10) / 100);
}

/** The first 8 characters of an id, as the CLI shows them. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}
