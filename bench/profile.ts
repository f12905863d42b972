// Reads V8 .cpuprofile files and sums self and total time per function (name + file), and self time per package.
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  where: string;
  selfMs: number;
  /** Time with this function on the stack (counted once per stack, so recursion is not double counted). */
  totalMs: number;
}

export interface ProfileSummary {
  files: number;
  /** How many profiles overlapped the window and were cut to it. */
  windowed: number;
  /** Sampled time excluding idle, ms. */
  busyMs: number;
  idleMs: number;
  functions: FunctionTime[];
  packages: { name: string; selfMs: number }[];
}

/** A short, machine-independent location: repository-relative, node_modules/<package>, or node:<module>. */
export function shortLocation(url: string): string {
  if (url === "") return "";
  if (!url.startsWith("file://") && !url.startsWith("/")) return url; // node:internal/…, wasm://…
  const path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const rest = path.slice(nm + "/node_modules/".length).split("/");
    const pkg = rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1] ?? ""}` : (rest[0] ?? "");
    return `node_modules/${pkg}/${rest.slice(pkg.includes("/") ? 2 : 1).join("/")}`;
  }
  for (const top of ["/worker/", "/db/", "/api/", "/bench/", "/agent/"]) {
    const i = path.lastIndexOf(top);
    if (i >= 0) return path.slice(i + 1);
  }
  return path;
}

/** file:line; TypeScript sources run through the loader's transform, whose line numbers do not match the source, so none. */
function displayWhere(f: CallFrame): string {
  const where = shortLocation(f.url);
  if (where === "") return "";
  return where.endsWith(".ts") ? where : `${where}:${f.lineNumber + 1}`;
}

function packageOf(frame: CallFrame): string {
  const where = shortLocation(frame.url);
  if (where === "") return frame.functionName.startsWith("(") ? frame.functionName : "(native or V8 builtin)";
  if (where.startsWith("node_modules/")) return where.split("/").slice(0, where.startsWith("node_modules/@") ? 3 : 2).join("/");
  if (where.startsWith("node:")) return "node: (runtime internals)";
  if (!/^(worker|db|api|bench|agent)\//.test(where)) return where.split(":")[0] ?? where;
  return `${where.split("/")[0] ?? where}/ (ours)`;
}

/**
 * Sums every profile in `paths`. With `window` (microseconds on the profiled process's monotonic clock, the
 * clock V8 stamps samples with), only samples inside it count, e.g. the load phase without the set-up.
 */
export function summarizeProfiles(paths: readonly string[], window?: { startUs: number; endUs: number }): ProfileSummary {
  const self = new Map<string, FunctionTime>();
  const packages = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;
  let windowed = 0;
  for (const path of paths) {
    const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    // Sample i lasts until the next sample (DevTools' convention); the last lasts until endTime.
    const selfUs = new Map<number, number>();
    let t = profile.startTime;
    const stamps = profile.timeDeltas.map((d) => (t += d));
    const inWindow = window !== undefined && window.startUs < profile.endTime && window.endUs > profile.startTime;
    if (inWindow) windowed++;
    profile.samples.forEach((id, i) => {
      if (inWindow && ((stamps[i] as number) < window.startUs || (stamps[i] as number) > window.endUs)) return;
      const duration = (i + 1 < stamps.length ? (stamps[i + 1] as number) : profile.endTime) - (stamps[i] as number);
      selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, duration));
    });
    const keyOf = (f: CallFrame): string => `${f.functionName || "(anonymous)"}\u0000${displayWhere(f)}\u0000${f.lineNumber}`;
    for (const [id, us] of selfUs) {
      const node = byId.get(id);
      if (!node) continue;
      const f = node.callFrame;
      if (f.functionName === "(idle)") {
        idleUs += us;
        continue;
      }
      busyUs += us;
      const key = keyOf(f);
      const entry = self.get(key) ?? { name: f.functionName || "(anonymous)", where: displayWhere(f), selfMs: 0, totalMs: 0 };
      entry.selfMs += us / 1000;
      self.set(key, entry);
      const pkg = packageOf(f);
      packages.set(pkg, (packages.get(pkg) ?? 0) + us / 1000);
      // Total time: credit every distinct function on this sample's stack once.
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const frame = byId.get(cur)?.callFrame;
        if (!frame || frame.functionName === "(root)") continue;
        const k = keyOf(frame);
        if (seen.has(k)) continue;
        seen.add(k);
        const e = self.get(k) ?? { name: frame.functionName || "(anonymous)", where: displayWhere(frame), selfMs: 0, totalMs: 0 };
        e.totalMs += us / 1000;
        self.set(k, e);
      }
    }
  }
  return {
    files: paths.length,
    windowed,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    functions: [...self.values()],
    packages: [...packages.entries()].map(([name, selfMs]) => ({ name, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}
