// The dashboard's only way to the control plane: same-origin requests to the public API with the operator's
// bearer token. A refused token (401) signs the session out; every other failure is an ApiError carrying
// the problem details the API answered with.
import type { Problem } from "./types";

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
    readonly problem?: Problem,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ApiClient {
  get<T>(path: string, signal?: AbortSignal): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  /** A raw request (streams): the response when it is ok, else the same ApiError. */
  open(path: string, init: { signal: AbortSignal; headers?: Record<string, string> }): Promise<Response>;
}

/** A problem's detail, with its field paths when the API named them. */
function describe(problem: Problem): string {
  const fields = problem.errors?.map((e) => `${e.path}: ${e.message}`).join("; ");
  return fields && !problem.detail.includes(fields) ? `${problem.detail} (${fields})` : problem.detail;
}

export async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  try {
    const problem = JSON.parse(text) as Problem;
    if (typeof problem.detail === "string") return new ApiError(res.status, describe(problem), problem);
  } catch {
    // Not problem+json (a proxy's page): the status says enough.
  }
  return new ApiError(res.status, `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`);
}

/** `base`: the control plane's origin; the page's own (same-origin paths) unless given. */
export function createApiClient(token: string, onRefused: (error: ApiError) => void, base = ""): ApiClient {
  async function request(path: string, init: RequestInit & { headers?: Record<string, string> }): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(base + path, { ...init, cache: "no-store", credentials: "omit", headers: { authorization: `Bearer ${token}`, ...init.headers } });
    } catch (cause) {
      if (init.signal?.aborted) throw cause;
      throw new ApiError(0, "the control plane cannot be reached", undefined, { cause });
    }
    if (res.ok) return res;
    const error = await errorOf(res);
    if (res.status === 401) onRefused(error);
    throw error;
  }
  return {
    async get<T>(path: string, signal?: AbortSignal) {
      const res = await request(path, { method: "GET", ...(signal ? { signal } : {}) });
      return (await res.json()) as T;
    },
    async post<T>(path: string, body?: unknown) {
      const res = await request(path, body === undefined ? { method: "POST" } : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return (await res.json()) as T;
    },
    open(path, init) {
      return request(path, { method: "GET", signal: init.signal, headers: { accept: "text/event-stream", ...init.headers } });
    },
  };
}

/** A 404 for the route itself (an older control plane without it), not for a resource it looked up. */
export function isMissingRoute(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404 && (error.problem?.detail ?? "").startsWith("no route for ");
}

/** Path segments are names the API checked; encoding keeps a strange one from changing the path. */
export const seg = encodeURIComponent;

export function jobPath(namespace: string, name: string): string {
  return `/v1/namespaces/${seg(namespace)}/jobs/${seg(name)}`;
}
