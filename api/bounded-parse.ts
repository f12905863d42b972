// Bounded parsing of client documents (JSON and YAML): size, depth and token limits are checked by one
// linear pass before any parser builds a tree, so no body within the byte limit can make the parser
// recurse, allocate or backtrack without bound. Every route body and the CLI's job-file check go through here.
//
// JSON: a character scan tracks strings and bracket depth exactly as JSON.parse will see them, then
// JSON.parse (iterative in V8) runs on text already known to be shallow.
// YAML: the yaml library's own lexer (a single-pass state machine that builds no tree and uses no regular
// expressions) is walked token by token, stopping at the first limit crossed, so the depth we measure is
// the nesting its parser would build. Its parser and composer are super-linear on some shapes (duplicate-key
// checks, error context), so YAML also has a smaller byte and token budget. Then: core schema only, no
// directives, no custom or unknown tags, no merge keys, unique keys, at most MAX_ALIASES alias expansions,
// and the expanded value is walked (iteratively) for depth again, since aliases can nest what they name.
import { Composer, isAlias, isMap, isPair, isScalar, isSeq, Lexer, Parser, type CST, type Document as YamlDocument, type Node as YamlNode } from "yaml";

export interface DocumentLimits {
  /** Largest document, in UTF-8 bytes. */
  maxBytes: number;
  /** Deepest nesting of arrays and objects (the root collection is depth 1). */
  maxDepth: number;
  /** Most lexical tokens (YAML) a document may hold. */
  maxTokens: number;
}

/** Nesting no API body or job file needs; far below where a recursive validator would overflow the stack. */
export const MAX_DEPTH = 64;

/** Request bodies in JSON (the byte limit is the control plane's body limit). */
export const JSON_LIMITS: DocumentLimits = { maxBytes: 1_048_576, maxDepth: MAX_DEPTH, maxTokens: Number.POSITIVE_INFINITY };

/**
 * Job files in YAML: a job spec is tens of lines (4,096 tokens is some 600). The budget keeps the yaml library's worst
 * shapes (thousands of keys in one mapping, thousands of syntax errors) to a few milliseconds.
 */
export const YAML_LIMITS: DocumentLimits = { maxBytes: 64 * 1024, maxDepth: MAX_DEPTH, maxTokens: 4_096 };

/** Alias expansions one YAML document may make (yaml's guard against exponential entity expansion). */
export const MAX_ALIASES = 100;

/** Nodes the expanded value of a YAML document may hold (aliases multiply what the text holds). */
const MAX_EXPANDED_NODES = 100_000;

export type DocumentErrorReason = "too-large" | "too-deep" | "syntax" | "not-allowed";
export interface DocumentIssue {
  path: string;
  message: string;
}

/**
 * A document refused before or while parsing. `detail` completes a sentence whose subject the caller names
 * ("request body", "job file"); the message says "document". Neither ever quotes the document.
 */
export class DocumentError extends Error {
  override name = "DocumentError";
  constructor(
    readonly reason: DocumentErrorReason,
    readonly detail: string,
    readonly issues: DocumentIssue[] = [],
    options?: { cause?: unknown },
  ) {
    super(`document ${detail}`, options);
  }
}

/** UTF-8 length of `text`, counted only up to `stopAbove` (the caller only needs to know it is over). */
export function utf8Length(text: string, stopAbove = Number.POSITIVE_INFINITY): number {
  if (text.length > stopAbove) return text.length;
  let bytes = 0;
  for (let i = 0; i < text.length && bytes <= stopAbove; i++) {
    const code = text.charCodeAt(i);
    // A surrogate pair is 4 bytes: 2 for each half.
    bytes += code < 0x80 ? 1 : code < 0x800 || (code >= 0xd800 && code <= 0xdfff) ? 2 : 3;
  }
  return bytes;
}

function checkSize(text: string, limits: DocumentLimits): void {
  if (utf8Length(text, limits.maxBytes) > limits.maxBytes) {
    throw new DocumentError("too-large", `is larger than ${limits.maxBytes} bytes`);
  }
}

/** Line and column (1-based) of an offset, for messages that point into a document without quoting it. */
export function positionOf(text: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return `line ${line}, column ${end - lineStart + 1}`;
}

function tooDeep(text: string, offset: number, limits: DocumentLimits): DocumentError {
  return tooDeepAt(positionOf(text, offset), limits.maxDepth);
}

function tooDeepAt(position: string, maxDepth: number): DocumentError {
  const message = `nested deeper than ${maxDepth} levels (at ${position})`;
  return new DocumentError("too-deep", `is ${message}`, [{ path: "(root)", message }]);
}

/**
 * The linear pre-check of a JSON document: size, and bracket depth outside strings. It does not check the
 * syntax (JSON.parse does, after it); it only guarantees that no nesting JSON.parse will see exceeds the limit.
 * It reads text or the UTF-8 bytes themselves (every byte of a multi-byte character is 0x80 or above, so
 * quotes, backslashes and brackets are the same bytes), so a request body is checked before it is decoded.
 */
export function checkJsonBounds(input: string | Uint8Array, limits: DocumentLimits = JSON_LIMITS): void {
  const bytes = typeof input === "string" ? utf8Length(input, limits.maxBytes) : input.byteLength;
  if (bytes > limits.maxBytes) throw new DocumentError("too-large", `is larger than ${limits.maxBytes} bytes`);
  const scan = new JsonDepthScan(limits.maxDepth);
  scan.feed(input);
}

/**
 * The JSON depth check as a scan over text or bytes; it keeps its state between feed() calls, so a document
 * may be given in pieces. feed() throws the too-deep DocumentError.
 */
export class JsonDepthScan {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private line = 1;
  private column = 0;

  constructor(private readonly maxDepth: number) {}

  /** Bytes (UTF-8) or a string's UTF-16 code units: the characters that matter are the same in both. */
  feed(input: Uint8Array | string): void {
    const bytes = typeof input === "string" ? null : input;
    const text = typeof input === "string" ? input : "";
    const length = input.length;
    // Two loops in one: indexing a typed array directly keeps this one linear pass a few µs per heartbeat.
    for (let i = 0; i < length; i++) {
      const c = bytes !== null ? (bytes[i] as number) : text.charCodeAt(i);
      this.column++;
      if (c === 0x0a) {
        this.line++;
        this.column = 0;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c /* \ */) this.escaped = true;
        else if (c === 0x22 /* " */) this.inString = false;
      } else if (c === 0x22) {
        this.inString = true;
      } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
        if (++this.depth > this.maxDepth) throw tooDeepAt(`line ${this.line}, column ${this.column}`, this.maxDepth);
      } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
        this.depth--;
      }
    }
  }
}

/** Parses JSON after the pre-check; a syntax error names where, never what. */
export function parseJson(text: string, limits: DocumentLimits = JSON_LIMITS): unknown {
  checkJsonBounds(text, limits);
  try {
    return JSON.parse(text);
  } catch (cause) {
    // V8 reports "... at position N"; only the number is taken from its message.
    const at = /at position (\d{1,9})/.exec(cause instanceof Error ? cause.message : "");
    const where = at?.[1] !== undefined ? ` at ${positionOf(text, Number(at[1]))}` : "";
    throw new DocumentError("syntax", `is not valid JSON${where}`, [], { cause });
  }
}

/**
 * The linear pre-check of a YAML document, over the yaml library's lexer: size, token count, no directives,
 * and an upper bound on nesting. Flow collections count exactly (a flow sequence twice, for the one-pair
 * mappings it may hold). Block nesting is bounded per line: the bound of the nearest less indented line,
 * plus two (a mapping and a sequence may share a column), plus one per indicator on the line (`- - x`).
 */
export function checkYamlBounds(text: string, limits: DocumentLimits = YAML_LIMITS): void {
  checkSize(text, limits);
  /** Weights of the open flow collections, and their sum. */
  const flow: number[] = [];
  let flowDepth = 0;
  /** Indentations of the block lines still open, each with the depth bound its line reached. */
  const levels: { indent: number; depth: number }[] = [];
  let atLineStart = true;
  let indent = 0;
  let line: { indent: number; depth: number } | null = null;
  let offset = 0;
  let tokens = 0;
  for (const token of new Lexer().lex(text)) {
    if (++tokens > limits.maxTokens) throw new DocumentError("too-large", `has more than ${limits.maxTokens} tokens`);
    const at = offset;
    if (!MARKERS.has(token)) offset += token.length;
    if (token === "\n" || token === "\r\n") {
      if (line) levels.push(line);
      line = null;
      atLineStart = true;
      indent = 0;
      continue;
    }
    const first = token[0];
    if (first === undefined || MARKERS.has(token) || first === "#") continue;
    if (first === " " || first === "\t") {
      if (atLineStart) indent = token.length;
      continue;
    }
    if (first === "%") throw new DocumentError("not-allowed", "uses YAML directives (%YAML, %TAG), which are not allowed", [{ path: "(root)", message: "directives are not allowed" }]);
    if (token === "---" || token === "...") {
      levels.length = 0;
      continue;
    }
    if (atLineStart && flowDepth === 0) {
      // The first token of a block line: it nests under the nearest line indented less.
      while (levels.length > 0 && levels[levels.length - 1]!.indent >= indent) levels.pop();
      line = { indent, depth: (levels[levels.length - 1]?.depth ?? 0) + 2 };
    }
    atLineStart = false;
    if (token === "[" || token === "{") {
      const weight = token === "[" ? 2 : 1;
      flow.push(weight);
      flowDepth += weight;
    } else if (token === "]" || token === "}") {
      flowDepth -= flow.pop() ?? 0;
    } else if (flowDepth === 0 && line && (token === "-" || token === "?" || token === ":")) {
      line.depth++;
    }
    if ((line?.depth ?? 0) + flowDepth > limits.maxDepth) throw tooDeep(text, at, limits);
  }
}

/** Lexer tokens that mark a mode and stand for no source text (document, scalar, flow-error end). */
const MARKERS = new Set(["\x02", "\x1f", "\x18"]);

/** The tags of YAML 1.2's core schema; any other tag (`!!js/function`, `!custom`) is refused. */
const CORE_TAGS = new Set(["str", "int", "float", "bool", "null", "map", "seq"].map((t) => `tag:yaml.org,2002:${t}`));

/**
 * Parses YAML after the pre-check, with the core schema and nothing the schema does not define. Errors and
 * warnings are collected from the document (never written to the console); tag and key problems carry the
 * field path where they occur.
 */
export function parseYaml(text: string, limits: DocumentLimits = YAML_LIMITS): unknown {
  checkYamlBounds(text, limits);
  const doc = composeYaml(text);
  const issues: NodeIssues = { syntax: [], notAllowed: [] };
  checkNodes(doc.contents, [], issues);
  const list = (found: DocumentIssue[]) => found.map((i) => `${i.path}: ${i.message}`).join("; ");
  if (issues.syntax.length > 0) throw new DocumentError("syntax", `is not valid YAML: ${list(issues.syntax)}`, issues.syntax);
  if (issues.notAllowed.length > 0) throw new DocumentError("not-allowed", `uses YAML features that are not allowed: ${list(issues.notAllowed)}`, issues.notAllowed);
  // Unknown tags were reported above, with their paths; any other warning is refused as well.
  const warning = doc.warnings[0];
  if (warning) throw yamlSyntaxError(text, warning.pos[0], describeYamlProblem(warning.code), warning);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (cause) {
    throw new DocumentError("too-large", "expands too far through its aliases", [], { cause });
  }
  checkExpandedDepth(value, limits);
  return value;
}

/**
 * parseDocument, in its two steps, so the first syntax error the CST parser reports ends the work: the
 * composer builds an error object (with a stack trace) for each one, and a document of thousands of stray
 * brackets would cost thousands of them.
 */
function composeYaml(text: string): YamlDocument.Parsed {
  const cst: CST.Token[] = [];
  for (const token of new Parser().parse(text)) {
    if (token.type === "error") throw yamlSyntaxError(text, token.offset, "unexpected token");
    cst.push(token);
  }
  const composer = new Composer({
    version: "1.2",
    schema: "core",
    customTags: [],
    merge: false,
    // Duplicate keys are found by checkNodes in one pass: the library's own check compares every pair.
    uniqueKeys: false,
    prettyErrors: false,
    logLevel: "silent",
  });
  const docs = [...composer.compose(cst, true, text.length)];
  if (docs.length !== 1) throw yamlSyntaxError(text, docs[1]?.range[0] ?? 0, "more than one document");
  const doc = docs[0]!;
  const error = doc.errors[0];
  if (error) throw yamlSyntaxError(text, error.pos[0], describeYamlProblem(error.code), error);
  return doc;
}

function yamlSyntaxError(text: string, offset: number, what: string, cause?: unknown): DocumentError {
  return new DocumentError("syntax", `is not valid YAML at ${positionOf(text, offset)}: ${what}`, [], { cause });
}

/** The yaml library's messages quote the document; only its stable error code is passed on. */
function describeYamlProblem(code: string): string {
  const known: Record<string, string> = {
    TAG_RESOLVE_FAILED: "unknown tag",
    DUPLICATE_KEY: "duplicate key",
    MULTIPLE_DOCS: "more than one document",
    TAB_AS_INDENT: "tabs are not allowed as indentation",
    BAD_INDENT: "bad indentation",
    MISSING_CHAR: "a closing bracket or quote is missing",
    UNEXPECTED_TOKEN: "unexpected token",
    BAD_ALIAS: "an alias names no anchor",
    ALIAS_PROPS: "an alias cannot have a tag or anchor",
  };
  return known[code] ?? code.toLowerCase().replaceAll("_", " ");
}

const TAG_NOT_ALLOWED = "tags other than the core schema's (!!str, !!int, …) are not allowed";

const pathOf = (path: (string | number)[]) => (path.length === 0 ? "(root)" : path.join("."));

interface NodeIssues {
  /** Keys that are not strings or numbers, or repeat in one mapping. */
  syntax: DocumentIssue[];
  /** Tags outside the core schema. */
  notAllowed: DocumentIssue[];
}

/** Tags and keys, node by node (the pre-check bounds the recursion). */
function checkNodes(node: unknown, path: (string | number)[], issues: NodeIssues): void {
  if (!node || typeof node !== "object" || isAlias(node)) return;
  const tag = (node as YamlNode).tag;
  if (tag !== undefined && !CORE_TAGS.has(tag)) issues.notAllowed.push({ path: pathOf(path), message: TAG_NOT_ALLOWED });
  if (isSeq(node)) node.items.forEach((item, i) => checkNodes(item, [...path, i], issues));
  if (!isMap(node)) return;
  const seen = new Set<string>();
  for (const pair of node.items) {
    if (!isPair(pair)) continue;
    const key = pair.key;
    if (!isScalar(key) || key.value === null || typeof key.value === "object") {
      issues.syntax.push({ path: pathOf(path), message: "keys must be strings or numbers" });
      continue;
    }
    const name = String(key.value);
    if (key.tag !== undefined && !CORE_TAGS.has(key.tag)) issues.notAllowed.push({ path: pathOf([...path, name]), message: TAG_NOT_ALLOWED });
    if (seen.has(name)) issues.syntax.push({ path: pathOf([...path, name]), message: "duplicate key" });
    seen.add(name);
    checkNodes(pair.value, [...path, name], issues);
  }
}

/** Aliases can nest what they name (or name themselves): the expanded value is measured again, iteratively. */
function checkExpandedDepth(value: unknown, limits: DocumentLimits): void {
  const stack: [unknown, number][] = [[value, 0]];
  let visited = 0;
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth + 1 > limits.maxDepth) throw new DocumentError("too-deep", `is nested deeper than ${limits.maxDepth} levels once its aliases are expanded`, [{ path: "(root)", message: "nested too deep" }]);
    if (++visited > MAX_EXPANDED_NODES) throw new DocumentError("too-large", "expands too far through its aliases");
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
}
