// Config file templates: text with {{ … }} holes, small and closed by design. A hole is one of
//   {{ job }} {{ namespace }} {{ slot }} {{ version }} {{ region }} {{ node }}   the task's own values
//   {{ secret "name" }}                                                            a secret's value (UTF-8)
//   {{ upstream "service" }}                                                       an upstream's gateway:port
//   {{ "text" }}                                                                   literal text, e.g. {{ "{{" }}
// and nothing else: no conditionals, loops or expressions, so a template can be checked in full when a
// job is applied. (The template libraries that have calls with arguments compile to code at run time,
// which Workers forbid; those that do not have no way to name a secret.)
//
// Rendering is in two stages. The control plane renders every hole but `upstream` (renderTemplate): an
// upstream's address is the job network's gateway, which only the agent knows. What it hands on is a list of
// segments, text and upstream references, never template text, so nothing it rendered (a secret's value
// above all) is parsed again; the agent puts in the addresses (fillUpstreams).

export const TASK_VALUES = ["job", "namespace", "slot", "version", "region", "node"] as const;
export type TaskValue = (typeof TASK_VALUES)[number];

export type TemplatePart =
  | { kind: "text"; text: string }
  | { kind: "value"; name: TaskValue }
  | { kind: "secret"; name: string }
  /** `name` is the service of one of the job's upstreams (checked with the job spec, which knows them). */
  | { kind: "upstream"; name: string };

export class TemplateError extends Error {
  override name = "TemplateError";
  constructor(
    message: string,
    /** Offset of the hole at fault (UTF-16 code units from the start). */
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Secret and service names (NAME_PATTERN of job-spec.ts, which imports this module). */
const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const STRING = /^"((?:[^"\\]|\\["\\])*)"$/;
const unquote = (s: string) => s.replace(/\\(["\\])/g, "$1");

/** Parses a template, or throws TemplateError naming the line and what is wrong. */
export function parseTemplate(source: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let at = 0;
  const where = (offset: number) => `line ${source.slice(0, offset).split("\n").length}`;
  while (at < source.length) {
    const open = source.indexOf("{{", at);
    if (open < 0) {
      parts.push({ kind: "text", text: source.slice(at) });
      break;
    }
    if (open > at) parts.push({ kind: "text", text: source.slice(at, open) });
    const close = findClose(source, open + 2);
    if (close < 0) throw new TemplateError(`${where(open)}: "{{" is never closed by "}}"`, open);
    const inner = source.slice(open + 2, close).trim();
    parts.push(parseHole(inner, () => where(open), open));
    at = close + 2;
  }
  return parts;
}

/** The end of a hole, skipping "}}" inside a quoted string. */
function findClose(source: string, from: number): number {
  let quoted = false;
  for (let i = from; i < source.length; i++) {
    const ch = source[i];
    if (quoted) {
      if (ch === "\\") i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === "}" && source[i + 1] === "}") return i;
    else if (ch === "\n") return -1;
  }
  return -1;
}

function parseHole(inner: string, where: () => string, offset: number): TemplatePart {
  if ((TASK_VALUES as readonly string[]).includes(inner)) return { kind: "value", name: inner as TaskValue };
  const literal = STRING.exec(inner);
  if (literal) return { kind: "text", text: unquote(literal[1]!) };
  const call = /^(secret|upstream)\s+(.*)$/.exec(inner);
  if (call) {
    const kind = call[1] as "secret" | "upstream";
    const arg = STRING.exec(call[2]!.trim());
    if (!arg) throw new TemplateError(`${where()}: ${kind} takes one quoted name, as in {{ ${kind} "${kind === "secret" ? "db-password" : "web"}" }}`, offset);
    const name = unquote(arg[1]!);
    if (!NAME.test(name)) throw new TemplateError(`${where()}: "${name}" is not a ${kind === "secret" ? "secret" : "service"} name`, offset);
    return { kind, name };
  }
  const shown = inner.length > 40 ? `${inner.slice(0, 40)}…` : inner;
  throw new TemplateError(`${where()}: {{ ${shown} }} is not one of ${TASK_VALUES.join(", ")}, secret "name", upstream "service" or a quoted string`, offset);
}

/** The secrets a template reads, each once, in order of first use. */
export function templateSecrets(parts: readonly TemplatePart[]): string[] {
  return [...new Set(parts.flatMap((p) => (p.kind === "secret" ? [p.name] : [])))];
}

/** The upstreams a template reads the address of, each once, in order of first use. */
export function templateUpstreams(parts: readonly TemplatePart[]): string[] {
  return [...new Set(parts.flatMap((p) => (p.kind === "upstream" ? [p.name] : [])))];
}

export type TaskValues = Record<TaskValue, string>;

/** A rendered template: text, and the upstreams whose address the agent puts in its place. */
export type RenderedSegment = { text: string } | { upstream: string };

/**
 * Renders parsed parts but upstreams; `secret` returns a secret's value as text. Adjacent text is one
 * segment, so a template without upstream holes renders to at most one.
 */
export function renderTemplate(parts: readonly TemplatePart[], values: TaskValues, secret: (name: string) => string): RenderedSegment[] {
  const segments: RenderedSegment[] = [];
  for (const p of parts) {
    if (p.kind === "upstream") {
      segments.push({ upstream: p.name });
      continue;
    }
    const text = p.kind === "text" ? p.text : p.kind === "value" ? values[p.name] : secret(p.name);
    const last = segments.at(-1);
    if (last && "text" in last) last.text += text;
    else if (text !== "") segments.push({ text });
  }
  return segments;
}

/** The file's text: each upstream segment replaced by `address` of it; text segments as they are, never parsed. */
export function fillUpstreams(segments: readonly RenderedSegment[], address: (service: string) => string): string {
  return segments.map((s) => ("text" in s ? s.text : address(s.upstream))).join("");
}
