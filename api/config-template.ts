// Config file templates: text with {{ … }} holes, small and closed by design. A hole is one of
//   {{ job }} {{ namespace }} {{ slot }} {{ version }} {{ region }} {{ node }}   the task's own values
//   {{ secret "name" }}                                                            a secret's value (UTF-8)
//   {{ "text" }}                                                                   literal text, e.g. {{ "{{" }}
// and nothing else: no conditionals, loops or expressions, so a template can be checked in full when a
// job is applied. (The template libraries that have calls with arguments compile to code at run time,
// which Workers forbid; those that do not have no way to name a secret.)

export const TASK_VALUES = ["job", "namespace", "slot", "version", "region", "node"] as const;
export type TaskValue = (typeof TASK_VALUES)[number];

export type TemplatePart = { kind: "text"; text: string } | { kind: "value"; name: TaskValue } | { kind: "secret"; name: string };

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
  const call = /^secret\s+(.*)$/.exec(inner);
  if (call) {
    const arg = STRING.exec(call[1]!.trim());
    if (!arg) throw new TemplateError(`${where()}: secret takes one quoted name, as in {{ secret "db-password" }}`, offset);
    const name = unquote(arg[1]!);
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name)) throw new TemplateError(`${where()}: "${name}" is not a secret name`, offset);
    return { kind: "secret", name };
  }
  const shown = inner.length > 40 ? `${inner.slice(0, 40)}…` : inner;
  throw new TemplateError(`${where()}: {{ ${shown} }} is not one of ${TASK_VALUES.join(", ")}, secret "name" or a quoted string`, offset);
}

/** The secrets a template reads, each once, in order of first use. */
export function templateSecrets(parts: readonly TemplatePart[]): string[] {
  return [...new Set(parts.flatMap((p) => (p.kind === "secret" ? [p.name] : [])))];
}

export type TaskValues = Record<TaskValue, string>;

/** Renders parsed parts; `secret` returns a secret's value as text. */
export function renderTemplate(parts: readonly TemplatePart[], values: TaskValues, secret: (name: string) => string): string {
  return parts.map((p) => (p.kind === "text" ? p.text : p.kind === "value" ? values[p.name] : secret(p.name))).join("");
}
