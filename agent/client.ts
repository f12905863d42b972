// The agent's HTTP client for the control plane: enroll, claim, heartbeat, log upload, follows and execs,
// and registering the node's encryption key. It only dials out.
import type { ClaimRequest, ClaimResponse, EnrollRequest, EnrollResponse, HeartbeatRequest, HeartbeatResponse } from "../api/agent-protocol";
import type { ExecResult, FollowChunk, RequestPollResponse } from "../api/agent-requests";
import type { NodeEncryptionKey } from "../api/sealed";

export class ControlPlaneError extends Error {
  override name = "ControlPlaneError";
  constructor(
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  /** 401: the credential is no longer accepted (re-enroll); other 4xx are our bug; 5xx and network errors are transient. */
  get unauthorized(): boolean {
    return this.status === 401;
  }
}

export interface ControlPlaneClient {
  enroll(body: EnrollRequest): Promise<EnrollResponse>;
  claim(credential: string, body: ClaimRequest, signal?: AbortSignal): Promise<ClaimResponse>;
  heartbeat(credential: string, body: HeartbeatRequest): Promise<HeartbeatResponse>;
  uploadLogs(credential: string, requestId: string, body: { output: string; error?: string }): Promise<void>;
  /** POST /v1/agent/requests: new follows and execs, and every open follow of the node. */
  pollRequests(credential: string): Promise<RequestPollResponse>;
  sendFollowChunk(credential: string, followId: string, body: FollowChunk): Promise<void>;
  sendExecResult(credential: string, execId: string, body: ExecResult): Promise<void>;
  /** PUT /v1/agent/encryption-key: the key task secrets are sealed to from now on; answers its kid. */
  registerEncryptionKey(credential: string, body: { key: NodeEncryptionKey }): Promise<{ kid: string }>;
}

export function createControlPlaneClient(server: string, opts: { timeoutMs?: number } = {}): ControlPlaneClient {
  const base = server.replace(/\/+$/, "");
  const timeoutMs = opts.timeoutMs ?? 10_000;

  async function send<T>(method: "POST" | "PUT", path: string, body: unknown, credential?: string, extraMs = 0, signal?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(timeoutMs + extraMs);
    let res: Response;
    try {
      res = await fetch(base + path, {
        method,
        headers: { "content-type": "application/json", ...(credential ? { authorization: `Bearer ${credential}` } : {}) },
        body: JSON.stringify(body),
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      });
    } catch (cause) {
      throw new ControlPlaneError(0, `control plane unreachable at ${base}: ${(cause as Error).message}`, { cause });
    }
    const text = await res.text();
    if (!res.ok) {
      let detail = text.slice(0, 300);
      try {
        detail = (JSON.parse(text) as { detail?: string }).detail ?? detail;
      } catch {
        // not problem+json: keep the raw text
      }
      throw new ControlPlaneError(res.status, `${path}: HTTP ${res.status}: ${detail}`);
    }
    return JSON.parse(text) as T;
  }

  return {
    enroll: (body) => send<EnrollResponse>("POST", "/v1/agent/enroll", body),
    claim: (credential, body, signal) => send<ClaimResponse>("POST", "/v1/agent/claim", body, credential, body.waitMs ?? 0, signal),
    heartbeat: (credential, body) => send<HeartbeatResponse>("POST", "/v1/agent/heartbeat", body, credential),
    uploadLogs: async (credential, id, body) => {
      await send<unknown>("POST", `/v1/agent/logs/${encodeURIComponent(id)}`, body, credential);
    },
    registerEncryptionKey: (credential, body) => send<{ kid: string }>("PUT", "/v1/agent/encryption-key", body, credential),
    pollRequests: (credential) => send<RequestPollResponse>("POST", "/v1/agent/requests", {}, credential),
    sendFollowChunk: async (credential, id, body) => {
      await send<unknown>("POST", `/v1/agent/follows/${encodeURIComponent(id)}/chunks`, body, credential);
    },
    sendExecResult: async (credential, id, body) => {
      await send<unknown>("POST", `/v1/agent/execs/${encodeURIComponent(id)}/result`, body, credential);
    },
  };
}
