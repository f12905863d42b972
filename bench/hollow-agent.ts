// A hollow agent: speaks the real agent protocol over HTTP (enroll, claim, heartbeat) but starts no
// containers. Tests and benchmarks run fleets of them, in the spirit of kubemark's hollow nodes.
import type { MeshRequest } from "../api/mesh";
import type { ClaimResponse, EnrollResponse, HeartbeatResponse, TaskReport, TaskUsage } from "../api/agent-protocol";
import type { NodeEncryptionKey } from "../api/sealed";

export type Fetcher = (path: string, init: RequestInit) => Promise<Response>;

export interface HeldLease {
  taskId: string;
  epoch: number;
  lease: string;
  expiresAt: number;
  state: TaskReport["state"];
  exitCode?: number;
  /** What the agent says about it, e.g. why it could not start. */
  message?: string;
  /** Reported health (default healthy while running) and published ports. */
  health?: "starting" | "healthy" | "unhealthy" | null;
  hostPorts?: { container: number; host: number }[];
  /** A cpu and memory sample to report in the next heartbeat only. */
  usage?: TaskUsage;
}

export class ProtocolError extends Error {
  override name = "ProtocolError";
  constructor(
    readonly status: number,
    readonly problem: { type?: string; detail?: string },
  ) {
    super(`HTTP ${status}: ${problem.detail ?? "request failed"}`);
  }
}

/** A Fetcher for a base URL, over the runtime's fetch (undici's pool on Node). */
export function httpFetcher(baseUrl: string): Fetcher {
  return (path, init) => fetch(new URL(path, baseUrl), init);
}

export class HollowAgent {
  nodeId = "";
  credential = "";
  heartbeatIntervalMs = 5_000;
  leaseTtlMs = 15_000;
  readonly leases = new Map<string, HeldLease>();
  /** Every revocation this agent was told about, oldest first. */
  readonly revocations: HeartbeatResponse["revoked"] = [];

  constructor(
    private readonly fetcher: Fetcher,
    readonly name: string,
    readonly opts: { region?: string; labels?: Record<string, string>; cpu?: number; memory?: number; encryptionKey?: NodeEncryptionKey; advertise?: { address: string; scope: "region" | "public" }[]; mesh?: MeshRequest } = {},
  ) {}

  private async post<T>(path: string, body: unknown, auth = true): Promise<T> {
    const res = await this.fetcher(path, {
      method: "POST",
      headers: { "content-type": "application/json", ...(auth ? { authorization: `Bearer ${this.credential}` } : {}) },
      body: JSON.stringify(body),
    });
    const data = (await res.json()) as unknown;
    if (!res.ok) throw new ProtocolError(res.status, data as { type?: string; detail?: string });
    return data as T;
  }

  async enroll(joinToken: string): Promise<EnrollResponse> {
    const r = await this.post<EnrollResponse>(
      "/v1/agent/enroll",
      {
        token: joinToken,
        name: this.name,
        region: this.opts.region ?? "global",
        labels: this.opts.labels ?? {},
        capacity: { cpu: this.opts.cpu ?? 4000, memory: this.opts.memory ?? 8192 },
        agentVersion: "hollow",
        ...(this.opts.encryptionKey ? { encryptionKey: this.opts.encryptionKey } : {}),
        ...(this.opts.advertise ? { advertise: this.opts.advertise } : {}),
        ...(this.opts.mesh ? { mesh: this.opts.mesh } : {}),
      },
      false,
    );
    this.nodeId = r.nodeId;
    this.credential = r.credential;
    this.heartbeatIntervalMs = r.heartbeatIntervalMs;
    this.leaseTtlMs = r.leaseTtlMs;
    return r;
  }

  /** Claims leases; new ones start out "running" (a hollow agent starts nothing, so nothing can fail). */
  async claim(waitMs = 0): Promise<ClaimResponse> {
    const r = await this.post<ClaimResponse>("/v1/agent/claim", { waitMs });
    for (const g of r.leases) {
      const held = this.leases.get(g.taskId);
      if (held && held.epoch === g.epoch) {
        held.lease = g.lease;
        held.expiresAt = g.expiresAt;
      } else {
        this.leases.set(g.taskId, { taskId: g.taskId, epoch: g.epoch, lease: g.lease, expiresAt: g.expiresAt, state: "running" });
      }
    }
    return r;
  }

  /** The body of this agent's heartbeat: a report for every held lease. */
  heartbeatBody(): { tasks: TaskReport[] } {
    return {
      tasks: [...this.leases.values()].map((l) => ({
        lease: l.lease,
        state: l.state,
        health: l.health !== undefined ? l.health : l.state === "running" ? "healthy" : null,
        exitCode: l.exitCode ?? null,
        ...(l.hostPorts ? { hostPorts: l.hostPorts } : {}),
        ...(l.message !== undefined ? { message: l.message } : {}),
        ...(l.usage !== undefined ? { usage: l.usage } : {}),
      })),
    };
  }

  /** Reports every held lease; drops revoked ones and leases that ended. */
  /** `discovery`: the services and ingress index the node asks about (see the heartbeat request). */
  async heartbeat(discovery: { services?: Record<string, number>; ingress?: number; mesh?: MeshRequest; advertise?: { address: string; scope: "region" | "public" }[] } = {}): Promise<HeartbeatResponse> {
    const held = [...this.leases.values()];
    const body = this.heartbeatBody();
    for (const l of held) delete l.usage;
    const r = await this.post<HeartbeatResponse>("/v1/agent/heartbeat", { ...body, ...discovery });
    for (const g of r.renewed) {
      const l = this.leases.get(g.taskId);
      if (!l || l.epoch !== g.epoch) continue;
      l.expiresAt = g.expiresAt;
      if (g.lease) l.lease = g.lease;
    }
    for (const rev of r.revoked) {
      this.revocations.push(rev);
      const l = this.leases.get(rev.taskId);
      if (!l || l.epoch !== rev.epoch) continue;
      // Told to stop: a real agent stops the container and reports it; a hollow one reports stopped once.
      if (rev.reason === "stopped" && l.state !== "stopped") l.state = "stopped";
      else this.leases.delete(rev.taskId);
    }
    for (const l of held) if (l.state === "complete" || l.state === "failed") this.leases.delete(l.taskId);
    if (r.credential) this.credential = r.credential;
    this.heartbeatIntervalMs = r.heartbeatIntervalMs;
    this.leaseTtlMs = r.leaseTtlMs;
    return r;
  }
}
