// Domain errors and the one place that turns any error into application/problem+json.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ZodError } from "zod";
import { PROBLEM_CONTENT_TYPE, type Problem } from "../api/problem";

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

/** app.onError: never leaks stack traces or internal messages; 5xx details stay in the server log. */
export function createErrorHandler(log: (message: string, fields: Record<string, unknown>) => void) {
  return function problemHandler(err: Error, c: Context): Response {
    const instance = new URL(c.req.url).pathname;
    if (err instanceof ProblemError) {
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
      const kind = status === 413 ? "too-large" : status === 401 ? "unauthorized" : "http";
      return problemResponse(c, {
        type: TYPE_BASE + kind,
        title: status === 413 ? "Request body too large" : "Request failed",
        status,
        detail: err.message || (status === 413 ? "request body exceeds the size limit" : "request failed"),
        instance,
      });
    }
    log("request failed", { method: c.req.method, path: instance, error: err.name, message: err.message });
    return problemResponse(c, {
      type: TYPE_BASE + "internal",
      title: "Internal error",
      status: 500,
      detail: "the control plane could not complete the request; it has been logged",
      instance,
    });
  };
}
