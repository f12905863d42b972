// Request bodies: read once, decoded strictly as UTF-8, and bounded (api/bounded-parse.ts) before any route
// parses them. JSON bodies are checked here for every route, so the zod-openapi validators only ever run
// JSON.parse on shallow text; job files in YAML are parsed, with their own limits, by readJobBody.
import type { Context, MiddlewareHandler } from "hono";
import { DocumentError, JsonDepthScan, MAX_DEPTH } from "../api/bounded-parse";
import { JobFileError, parseJobDocument } from "../api/job-file";
import { jobSpecSchema, type JobSpec } from "../api/job-spec";
import type { AppEnv } from "./context";
import { badRequest, ProblemError, validationError } from "./errors";

/** The media types the validators read as JSON (the same rule as hono's validator). */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

export function isJsonBody(c: Context): boolean {
  const type = c.req.header("content-type")?.split(";")[0]?.trim() ?? "";
  return JSON_MEDIA_TYPE.test(type);
}

/** The client went away before its body arrived: nobody reads the answer, and it is not our failure. */
export class BodyNotReceivedError extends Error {
  override name = "BodyNotReceivedError";
}

/** A document refused by its limits or syntax, as the problem the API answers with. */
export function documentProblem(err: DocumentError | JobFileError, subject: string): ProblemError {
  const reason = err.reason;
  const detail = err instanceof DocumentError ? `${subject} ${err.detail}` : err.message;
  if (reason === "too-large") return new ProblemError(413, "too-large", "Request body too large", detail);
  return badRequest(detail, err.issues.length > 0 ? err.issues : undefined);
}

/**
 * Reads the body of every request that has one, after authentication and the size limit (bodyLimit), and
 * before any route: the text is kept in the request's body cache (where c.req.text() and c.req.json() read
 * it), so it is read and decoded once. JSON bodies are checked for depth here, in one linear pass.
 */
export function boundedBody(opts: { maxBytes: number }): MiddlewareHandler<AppEnv> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  return async function boundedBody(c, next) {
    // Not c.req.raw.body: on Node, touching it builds the web stream this reads around.
    if (c.req.method === "GET" || c.req.method === "HEAD" || !hasBody(c)) return next();
    // Read whole through arrayBuffer(): on Node the adapter's request reads the socket straight into one
    // buffer there, where touching .body would first build a web stream around it (about a third more CPU
    // per heartbeat). The size is bounded before this (bodyLimit) and again here, and the depth scan below
    // is one linear pass over the bytes, before any parser sees them.
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await c.req.raw.arrayBuffer());
    } catch (cause) {
      if (cause instanceof ProblemError) throw cause;
      throw new BodyNotReceivedError("request body was not received", { cause });
    }
    if (bytes.byteLength > opts.maxBytes) throw new ProblemError(413, "too-large", "Request body too large", `request body exceeds ${opts.maxBytes} bytes`);
    // JSON is checked on its bytes (every byte of a multi-byte character is 0x80 or above, so quotes,
    // backslashes and brackets are the bytes themselves).
    if (isJsonBody(c)) {
      try {
        new JsonDepthScan(MAX_DEPTH).feed(bytes);
      } catch (err) {
        if (err instanceof DocumentError) throw documentProblem(err, "request body");
        throw err;
      }
    }
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw badRequest("request body is not valid UTF-8");
    }
    // Hono keeps each body reading here as a promise (its type says the value), as its own form validator
    // does with bodyCache.formData; c.req.text() and c.req.json() then read this text.
    c.req.bodyCache.text = Promise.resolve(text) as unknown as string;
    await next();
  };
}

/**
 * Whether the request has a body. Behind the Node adapter (its bindings carry the `incoming` message) the
 * headers say so without building the stream; elsewhere the request's own body does.
 */
function hasBody(c: Context): boolean {
  const env = c.env as Record<string, unknown> | undefined;
  if (env && typeof env === "object" && "incoming" in env) {
    const length = c.req.header("content-length");
    return (length !== undefined && length !== "0") || c.req.header("transfer-encoding") !== undefined;
  }
  return c.req.raw.body !== null;
}

/**
 * A job document from the request: JSON when the content type says so, YAML (the CLI's application/yaml,
 * or anything else) otherwise, each through its bounded parser.
 */
export async function readJobBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") throw badRequest("request body is empty: send a job spec as JSON or YAML");
  try {
    return parseJobDocument(text, isJsonBody(c) ? "json" : "yaml");
  } catch (err) {
    if (err instanceof JobFileError) throw documentProblem(err, "job file");
    throw err;
  }
}

/** The request's job spec: read as readJobBody reads it, then validated, refused with its field paths. */
export async function readJobSpec(c: Context): Promise<JobSpec> {
  const parsed = jobSpecSchema.safeParse(await readJobBody(c));
  if (!parsed.success) throw validationError(parsed.error);
  return parsed.data;
}
