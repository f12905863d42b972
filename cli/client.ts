// A small typed client for the control plane's HTTP API; problem+json answers become ApiErrors.
import type { ExecRequest, ExecView } from "../api/agent-requests";
import type { AuditPage } from "../api/audit";
import type { EventPage } from "../api/events";
import type { ServiceSnapshot } from "../api/services";
import type { ApplyResponse, Deployment, DeploymentActionResponse, DeploymentDetail, DeploymentStatus, Job, JobDetail, JobEvent, JobVersion, LogRequest, Node, PlanResponse, RollbackResponse, ScaleResponse, SecretDeleteResponse, SecretInfo, SecretPutResponse, SecretRekeyResponse, SecretValue, SecretVersionsResponse, ServiceSummary, StopResponse, TaskSamples } from "./api-types";
import type { FieldError } from "./io";

/** An error answer from the control plane (RFC 9457 problem details when it sent them). */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    detail: string,
    readonly type: string | undefined,
    readonly title: string | undefined,
    readonly errors: FieldError[] = [],
  ) {
    super(detail);
  }
}

/** The control plane could not be reached at all. */
export class ConnectionError extends Error {
  override name = "ConnectionError";
}

export interface ClientOptions {
  addr: string;
  token: string;
  fetch?: typeof fetch;
}

type Body = { json: unknown } | { yaml: string };

/** GET /v1/events' filters: a job needs its namespace; type is comma-separated types or prefixes ending in ".". */
export interface EventQuery {
  namespace?: string;
  job?: string;
  type?: string;
  index?: number;
  limit?: number;
}

/** GET /v1/audit's filters; since and until are RFC 3339 times or durations ago. */
export interface AuditQuery {
  namespace?: string;
  actor?: string;
  action?: string;
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
}

const enc = encodeURIComponent;

export class ControlPlaneClient {
  private readonly fetchFn: typeof fetch;
  readonly addr: string;

  constructor(private readonly opts: ClientOptions) {
    this.addr = controlPlaneBase(opts.addr);
    this.fetchFn = opts.fetch ?? globalThis.fetch;
  }

  async request<T>(method: string, path: string, body?: Body): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.token}`, accept: "application/json, application/problem+json" };
    let payload: string | undefined;
    if (body && "yaml" in body) {
      headers["content-type"] = "application/yaml";
      payload = body.yaml;
    } else if (body) {
      headers["content-type"] = "application/json";
      payload = JSON.stringify(body.json);
    }
    let res: Response;
    try {
      res = await this.fetchFn(this.addr + path, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    } catch (cause) {
      throw new ConnectionError(`cannot reach the control plane at ${this.addr}: ${describeFetchFailure(cause)}`, { cause });
    }
    const text = await res.text();
    if (!res.ok) throw problemError(res, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(res.status, `the control plane at ${this.addr} answered ${method} ${path} with something that is not JSON`, undefined, undefined);
    }
  }

  applyJob(text: string, checkVersion?: number): Promise<ApplyResponse> {
    return this.request("POST", checkVersion === undefined ? "/v1/jobs" : `/v1/jobs?checkVersion=${checkVersion}`, { yaml: text });
  }
  /** What applying the file would do; the control plane writes nothing. */
  planJob(text: string): Promise<PlanResponse> {
    return this.request("POST", "/v1/jobs/plan", { yaml: text });
  }
  listJobs(namespace: string): Promise<{ jobs: Job[] }> {
    return this.request("GET", `/v1/namespaces/${enc(namespace)}/jobs`);
  }
  getJob(namespace: string, name: string): Promise<JobDetail> {
    return this.request("GET", `/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}`);
  }
  jobEvents(namespace: string, name: string, limit: number): Promise<{ events: JobEvent[] }> {
    return this.request("GET", `/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}/events?limit=${limit}`);
  }
  jobVersions(namespace: string, name: string): Promise<{ versions: JobVersion[] }> {
    return this.request("GET", `/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}/versions`);
  }
  scaleJob(namespace: string, name: string, body: { replicas: number; version?: number }): Promise<ScaleResponse> {
    return this.request("POST", `/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}/scale`, { json: body });
  }
  rollbackJob(namespace: string, name: string, body: { version?: number }): Promise<RollbackResponse> {
    return this.request("POST", `/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}/rollback`, { json: body });
  }
  stopJob(namespace: string, name: string): Promise<StopResponse> {
    return this.request("POST", `/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}/stop`);
  }
  listDeployments(namespace: string, filter: { job?: string; status?: DeploymentStatus; limit?: number } = {}): Promise<{ deployments: Deployment[] }> {
    const query = new URLSearchParams();
    if (filter.job !== undefined) query.set("job", filter.job);
    if (filter.status !== undefined) query.set("status", filter.status);
    if (filter.limit !== undefined) query.set("limit", String(filter.limit));
    const qs = query.toString();
    return this.request("GET", `/v1/namespaces/${enc(namespace)}/deployments${qs ? `?${qs}` : ""}`);
  }
  /** A deployment by its id or a unique prefix of it. */
  getDeployment(namespace: string, id: string): Promise<DeploymentDetail> {
    return this.request("GET", `/v1/namespaces/${enc(namespace)}/deployments/${enc(id)}`);
  }
  /** The job's latest deployment. */
  jobDeployment(namespace: string, name: string): Promise<DeploymentDetail> {
    return this.request("GET", `/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}/deployment`);
  }
  deploymentAction(namespace: string, id: string, action: "promote" | "pause" | "resume" | "fail", body: { force?: boolean } = {}): Promise<DeploymentActionResponse> {
    return this.request("POST", `/v1/namespaces/${enc(namespace)}/deployments/${enc(id)}/${action}`, { json: body });
  }
  listServices(namespace: string): Promise<{ services: ServiceSummary[] }> {
    return this.request("GET", `/v1/services?namespace=${enc(namespace)}`);
  }

  getService(namespace: string, name: string, opts: { all?: boolean; index?: number; wait?: string } = {}): Promise<ServiceSnapshot> {
    const q = new URLSearchParams({ namespace, ...(opts.all ? { all: "1" } : {}), ...(opts.index !== undefined ? { index: String(opts.index) } : {}), ...(opts.wait ? { wait: opts.wait } : {}) });
    return this.request("GET", `/v1/services/${enc(name)}?${q.toString()}`);
  }

  listNodes(): Promise<{ nodes: Node[] }> {
    return this.request("GET", "/v1/nodes");
  }
  requestLogs(namespace: string, name: string, body: { taskId?: string; tail?: number; since?: number; timestamps?: boolean; stream?: "stdout" | "stderr" }): Promise<{ requests: LogRequest[] }> {
    return this.request("POST", `/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}/logs`, { json: body });
  }
  getLogRequest(id: string): Promise<LogRequest> {
    return this.request("GET", `/v1/log-requests/${enc(id)}`);
  }
  /** Opens a log follow: the text/event-stream response, once the control plane has answered 200. */
  async openLogFollow(namespace: string, name: string, query: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const path = `/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}/logs/follow?${new URLSearchParams(query).toString()}`;
    let res: Response;
    try {
      res = await this.fetchFn(this.addr + path, { headers: { authorization: `Bearer ${this.opts.token}`, accept: "text/event-stream, application/problem+json" }, signal });
    } catch (cause) {
      if (signal.aborted) throw cause;
      throw new ConnectionError(`cannot reach the control plane at ${this.addr}: ${describeFetchFailure(cause)}`, { cause });
    }
    if (!res.ok) throw problemError(res, await res.text());
    return res;
  }
  requestExec(namespace: string, name: string, body: ExecRequest): Promise<ExecView> {
    return this.request("POST", `/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}/exec`, { json: body });
  }
  /** An exec; with `wait`, answers as soon as it is settled or once that long has passed. */
  getExec(id: string, wait?: string): Promise<ExecView> {
    return this.request("GET", `/v1/exec/${enc(id)}${wait ? `?wait=${enc(wait)}` : ""}`);
  }
  /** Stores a new version; `rollout` rolls it out to the jobs that follow the secret's latest. */
  putSecret(namespace: string, name: string, body: { value: string; encoding: "utf8" | "base64"; rollout: boolean }): Promise<SecretPutResponse> {
    return this.request("PUT", `/v1/namespaces/${enc(namespace)}/secrets/${enc(name)}`, { json: body });
  }
  listSecrets(namespace: string): Promise<{ secrets: SecretInfo[] }> {
    return this.request("GET", `/v1/namespaces/${enc(namespace)}/secrets`);
  }
  secretVersions(namespace: string, name: string): Promise<SecretVersionsResponse> {
    return this.request("GET", `/v1/namespaces/${enc(namespace)}/secrets/${enc(name)}/versions`);
  }
  /** The value (base64) of a version, default the newest. */
  secretValue(namespace: string, name: string, version?: number): Promise<SecretValue> {
    return this.request("GET", `/v1/namespaces/${enc(namespace)}/secrets/${enc(name)}/value${version === undefined ? "" : `?version=${version}`}`);
  }
  deleteSecret(namespace: string, name: string): Promise<SecretDeleteResponse> {
    return this.request("DELETE", `/v1/namespaces/${enc(namespace)}/secrets/${enc(name)}`);
  }
  /** Re-encrypts every stored value under the control plane's first key. */
  rekeySecrets(): Promise<SecretRekeyResponse> {
    return this.request("POST", "/v1/secrets/rekey");
  }
  /** A page of the audit trail, newest first; pass `next` back as `cursor` with the same filters. */
  audit(query: AuditQuery): Promise<AuditPage> {
    return this.request("GET", `/v1/audit?${queryString(query)}`);
  }
  /** Each task's newest samples (one unless asked), of a namespace or one job. */
  taskStats(namespace: string, query: { job?: string; samples?: number } = {}): Promise<{ tasks: TaskSamples[] }> {
    return this.request("GET", `/v1/namespaces/${enc(namespace)}/stats?${queryString(query)}`);
  }
  /** A page of events, oldest first: the newest `limit`, or those after `index`. */
  events(query: EventQuery): Promise<EventPage> {
    return this.request("GET", `/v1/events?${queryString(query)}`);
  }
  /**
   * Opens GET /v1/events?follow=1 after `after` (an event id; from now when null) and returns its SSE body.
   * An answer other than a stream throws as request() does.
   */
  async openEventStream(query: Omit<EventQuery, "index" | "limit">, after: number | null, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.token}`, accept: "text/event-stream, application/problem+json" };
    if (after !== null) headers["last-event-id"] = String(after);
    let res: Response;
    try {
      res = await this.fetchFn(`${this.addr}/v1/events?${queryString({ ...query, follow: 1 })}`, { headers, ...(signal ? { signal } : {}) });
    } catch (cause) {
      if (signal?.aborted) throw cause;
      throw new ConnectionError(`cannot reach the control plane at ${this.addr}: ${describeFetchFailure(cause)}`, { cause });
    }
    if (!res.ok || !res.body || !res.headers.get("content-type")?.startsWith("text/event-stream")) {
      const text = await res.text();
      if (!res.ok) throw problemError(res, text);
      throw new ApiError(res.status, `the control plane at ${this.addr} answered GET /v1/events?follow=1 with something that is not an event stream`, undefined, undefined);
    }
    return res.body;
  }
}

function queryString(query: object): string {
  return new URLSearchParams(Object.entries(query).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]]))).toString();
}

/**
 * The control plane's base URL as paths are appended to it: without trailing slashes, and without a
 * trailing /v1, which people copy from the API's own paths (`http://host:7400/v1/` is `http://host:7400`).
 */
export function controlPlaneBase(addr: string): string {
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    return addr.replace(/\/+$/, "");
  }
  // Only the path is trimmed: a host called v1 stays. A prefix before /v1 (a proxy's) stays too.
  return url.origin + url.pathname.replace(/\/+$/, "").replace(/\/v1$/, "").replace(/\/+$/, "");
}

function problemError(res: Response, text: string): ApiError {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  if (isProblem(data)) {
    const errors = Array.isArray(data.errors) ? data.errors.filter(isFieldError) : [];
    return new ApiError(res.status, data.detail, typeof data.type === "string" ? data.type : undefined, typeof data.title === "string" ? data.title : undefined, errors);
  }
  return new ApiError(res.status, `HTTP ${res.status} ${res.statusText}`.trim(), undefined, undefined);
}

function isProblem(data: unknown): data is { detail: string; type?: unknown; title?: unknown; errors?: unknown } {
  return typeof data === "object" && data !== null && typeof (data as { detail?: unknown }).detail === "string";
}

function isFieldError(e: unknown): e is FieldError {
  return typeof e === "object" && e !== null && typeof (e as FieldError).path === "string" && typeof (e as FieldError).message === "string";
}

/** Node's fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, a TLS error) is in the cause. */
function describeFetchFailure(err: unknown): string {
  let cur: unknown = err;
  for (let depth = 0; depth < 4 && cur instanceof Error; depth++) {
    const code = (cur as NodeJS.ErrnoException).code;
    if (typeof code === "string") return code;
    if (!(cur.cause instanceof Error)) return cur.message;
    cur = cur.cause;
  }
  return String(cur);
}
