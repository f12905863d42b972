// Field-level differences between two job specs, for `leasehold history` and a job's plan (the control
// plane's and the CLI's alike): one line per changed leaf, named by its path (`env.LOG_LEVEL`,
// `ports.0.container`). Pure, so it is tested on its own; it imports nothing, so the dashboard bundles it
// without zod (the schema of a change is in job-plan.ts, checked against this type).

export interface SpecChange {
  /** The changed leaf, dotted: env.LOG_LEVEL, ports.0.container. */
  path: string;
  kind: "added" | "removed" | "changed";
  from?: unknown;
  to?: unknown;
}

/** Every leaf that differs between `a` and `b`, in path order. Arrays compare element by element. */
export function diffSpecs(a: unknown, b: unknown): SpecChange[] {
  const out: SpecChange[] = [];
  walk(a, b, "", out);
  return out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}

function isContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  return v !== null && typeof v === "object";
}

function walk(a: unknown, b: unknown, path: string, out: SpecChange[]): void {
  if (isContainer(a) && isContainer(b) && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) {
      const at = path === "" ? key : `${path}.${key}`;
      const inA = Object.prototype.hasOwnProperty.call(a, key);
      const inB = Object.prototype.hasOwnProperty.call(b, key);
      const va = (a as Record<string, unknown>)[key];
      const vb = (b as Record<string, unknown>)[key];
      if (inA && !inB) out.push({ path: at, kind: "removed", from: va });
      else if (!inA && inB) out.push({ path: at, kind: "added", to: vb });
      else walk(va, vb, at, out);
    }
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path: path || "(root)", kind: "changed", from: a, to: b });
}

/** `image: nginx:1.27 → nginx:1.28`, `+ env.X: "1"`, `- env.Y: "2"`. */
export function formatChange(c: SpecChange): string {
  const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  if (c.kind === "added") return `+ ${c.path}: ${show(c.to)}`;
  if (c.kind === "removed") return `- ${c.path}: ${show(c.from)}`;
  return `~ ${c.path}: ${show(c.from)} → ${show(c.to)}`;
}
