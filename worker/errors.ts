// Domain errors and the one place that turns any error into application/problem+json.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { routePath } from "hono/route";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ZodError } from "zod";
import { PROBLEM_CONTENT_TYPE, type Problem } from "../api/problem";
import type { Logger } from "./context";

const TYPE_BASE = "urn:leasehold:problem:";

export class ProblemError extends Error {
  override name = "ProblemError";
  constructor(
    readonly status: ContentfulStatusCode,
    readonly kind: string,
    readonly title: string,
    detail: string,
    readonly errors?: { path: string; message: string }[],
    options?: { cause?: unknown },
  ) {
    super(detail, options);
  }
}

export const badRequest = (detail: string, errors?: { path: string; message: string }[]) =>
  new ProblemError(400, "validation", "Request is invalid", detail, errors);
export const unauthorized = (detail: string) => new ProblemError(401, "unauthorized", "Not authenticated", detail);
export const forbidden = (detail: string) => new ProblemError(403, "forbidden", "Not allowed", detail);
export const notFound = (detail: string) => new ProblemError(404, "not-found", "Not found", detail);
export const conflict = (detail: string) => new ProblemError(409, "conflict", "Conflict", detail);
export const gone = (detail: string) => new ProblemError(410, "gone", "Gone", detail);

/** Field paths and messages of a zod error, with the path prefixed by where the value came from. */
export function zodIssues(error: ZodError, prefix = ""): { path: string; message: string }[] {
  const join = (parts: PropertyKey[]) => [prefix, ...parts.map(String)].filter((p) => p !== "").join(".") || "(root)";
  return error.issues.flatMap((issue) =>
    // An unknown field is reported at its own path, so an editor can point at it.
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ path: join([...issue.path, key]), message: `unknown field "${key}"` }))
      : [{ path: join(issue.path), message: issue.message }],
  );
}

export function validationError(error: ZodError, prefix = ""): ProblemError {
  const errors = zodIssues(error, prefix);
  return badRequest(errors.map((e) => `${e.path}: ${e.message}`).join("; "), errors);
}

export function problemResponse(c: Context, problem: Problem): Response {
  return c.body(JSON.stringify(problem), problem.status as ContentfulStatusCode, { "content-type": PROBLEM_CONTENT_TYPE });
}

/**
 * app.onError: never leaks stack traces or internal messages. Each failure is logged once, as fields (the
 * route pattern, never the raw path; the error's name), at its level: refused requests at debug, a client
 * that went away at info, our own failures at error with a clipped reason.
 */
export function createErrorHandler(log: Logger) {
  return function problemHandler(err: Error, c: Context): Response {
    const instance = new URL(c.req.url).pathname;
    const where = { method: c.req.method, route: routePath(c, -1) };
    if (err instanceof ProblemError) {
      log("request refused", { ...where, status: err.status, problem: err.kind }, "debug");
      return problemResponse(c, {
        type: TYPE_BASE + err.kind,
        title: err.title,
        status: err.status,
        detail: err.message,
        instance,
        ...(err.errors ? { errors: err.errors } : {}),
      });
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      log("request refused", { ...where, status, error: err.name }, "debug");
      // A 400 from a validator middleware (a body that is not JSON) is a validation problem like ours.
      const kind = status === 413 ? "too-large" : status === 401 ? "unauthorized" : status === 400 ? "validation" : "http";
      return problemResponse(c, {
        type: TYPE_BASE + kind,
        title: status === 413 ? "Request body too large" : status === 400 ? "Request is invalid" : "Request failed",
        status,
        detail: err.message || (status === 413 ? "request body exceeds the size limit" : "request failed"),
        instance,
      });
    }
    if (clientWentAway(err, c)) {
      log("client went away before the request completed", { ...where, error: err.name }, "info");
      return problemResponse(c, { type: TYPE_BASE + "aborted", title: "Request aborted", status: 400, detail: "the request body was not received", instance });
    }
    const code = (err as { code?: unknown }).code;
    log("request failed", { ...where, status: 500, error: err.name, ...(typeof code === "string" ? { code } : {}), reason: err.message.slice(0, 200) }, "error");
    return problemResponse(c, {
      type: TYPE_BASE + "internal",
      title: "Internal error",
      status: 500,
      detail: "the control plane could not complete the request; it has been logged",
      instance,
    });
  };
}

/**
 * A body read that failed because the connection closed: ours (BodyNotReceivedError), or Node's own
 * ("aborted", ECONNRESET) from a read outside it, such as bodyLimit's for a chunked body. The request's
 * signal is aborted by then, or the error says so itself.
 */
function clientWentAway(err: Error, c: Context): boolean {
  if (err.name === "BodyNotReceivedError") return true;
  const code = (err as { code?: unknown }).code;
  return c.req.raw.signal?.aborted === true || code === "ECONNRESET" || code === "ERR_STREAM_PREMATURE_CLOSE" || err.message === "aborted";
}
