// Request bodies: read once, decoded strictly as UTF-8, and bounded (api/bounded-parse.ts) before any route
// parses them. JSON bodies are checked here for every route, so the zod-openapi validators only ever run
// JSON.parse on shallow text; job files in YAML are parsed, with their own limits, by readJobBody.
import type { Context, MiddlewareHandler } from "hono";
import { DocumentError, JsonDepthScan, MAX_DEPTH } from "../api/bounded-parse";
import { JobFileError, parseJobDocument } from "../api/job-file";
import type { AppEnv } from "./context";
import { badRequest, ProblemError } from "./errors";

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
    const stream = c.req.raw.body;
    if (stream === null) return next();
    // JSON is checked on its bytes as they arrive (every byte of a multi-byte character is 0x80 or above,
    // so quotes, backslashes and brackets are the bytes themselves): a body nested too deep is refused at
    // its first chunk, and the rest is neither kept nor decoded.
    const scan = isJsonBody(c) ? new JsonDepthScan(MAX_DEPTH) : null;
    const reader = stream.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    let refused: DocumentError | undefined;
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (cause) {
          throw new BodyNotReceivedError("request body was not received", { cause });
        }
        if (chunk.done) break;
        const bytes = chunk.value;
        size += bytes.byteLength;
        if (size > opts.maxBytes) throw new ProblemError(413, "too-large", "Request body too large", `request body exceeds ${opts.maxBytes} bytes`);
        // Once refused, the rest (within the size limit) is read and dropped: a client still sending its
        // body would otherwise see the connection close instead of the answer.
        if (refused) continue;
        try {
          scan?.feed(bytes.length, (i) => bytes[i]!);
          chunks.push(bytes);
        } catch (err) {
          if (!(err instanceof DocumentError)) throw err;
          refused = err;
          chunks.length = 0;
        }
      }
    } catch (err) {
      void reader.cancel().catch(() => undefined);
      throw err;
    }
    if (refused) throw documentProblem(refused, "request body");
    let text: string;
    try {
      text = decoder.decode(concat(chunks, size));
    } catch {
      throw badRequest("request body is not valid UTF-8");
    }
    // Hono keeps each body reading here as a promise (its type says the value), as its own form validator
    // does with bodyCache.formData; c.req.text() and c.req.json() then read this text.
    c.req.bodyCache.text = Promise.resolve(text) as unknown as string;
    await next();
  };
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
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
