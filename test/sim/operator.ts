// The operator: seeded actions through the public API (apply, scale, update, stop, start, delete,
// drain, eligibility), each recorded in the ledger so acknowledged writes can be checked.
import { jobSpecSchema } from "../../api/job-spec";
import type { LedgerEntry } from "./checks";
import type { Instance, Reply } from "./instances";
import type { Rng } from "./rng";

const JOBS = ["alpha", "beta", "gamma", "delta"];
/** Nodes an operator may have out of service at once: the rest always fit every job (see world.ts). */
const MAX_OUT = 2;

interface JobPlan {
  policy: "stop" | "keep";
  order: "stop-first" | "start-first" | null;
  replicas: number;
  env: number;
  image: string;
  parallelism: number;
  status: "absent" | "running" | "stopped";
}

/** Whether the job schema takes `update.order` yet (it is being added): probe it instead of assuming. */
export function schemaHasUpdateOrder(): boolean {
  return jobSpecSchema.safeParse({ name: "probe", image: "busybox", update: { order: "start-first" } }).success;
}

export class Operator {
  readonly ledger: LedgerEntry[] = [];
  private readonly jobs = new Map<string, JobPlan>();
  private readonly out = new Set<string>();

  constructor(
    private readonly rng: Rng,
    private readonly token: string,
    private readonly withOrder: boolean,
    private readonly note: (who: string, what: string) => void,
  ) {}

  specOf(name: string, p: JobPlan): Record<string, unknown> {
    return {
      name,
      replicas: p.replicas,
      image: p.image,
      env: { REVISION: String(p.env) },
      resources: { cpu: 500, memory: 256 },
      // Short bounds keep a run short: fence window = after + stopGrace + the control plane's margin.
      disconnect: p.policy === "stop" ? { policy: "stop", after: "2s" } : { policy: "keep" },
      stopGrace: "1s",
      update: { parallelism: p.parallelism, minHealthy: "1s", ...(p.order ? { order: p.order } : {}) },
    };
  }

  /** Longest rollout, in slots, over the jobs that should run: part of the convergence bound. */
  maxSlots(): number {
    return Math.max(1, ...[...this.jobs.values()].filter((p) => p.status === "running").map((p) => Math.ceil(p.replicas / p.parallelism)));
  }

  private async call(seq: number, via: Instance, method: string, path: string, body: unknown, what: string): Promise<Reply | null> {
    const reply = await via.request(method, path, this.token, body);
    this.note(via.name, `op ${what} → ${reply ? reply.status : "no reply"}${reply && reply.status >= 400 ? ` ${problem(reply)}` : ""}`);
    void seq;
    return reply;
  }

  private async apply(seq: number, via: Instance, name: string, p: JobPlan, what: string): Promise<void> {
    const reply = await this.call(seq, via, "POST", "/v1/jobs", this.specOf(name, p), `${what} ${name} r${p.replicas} env${p.env} ${p.image} ${p.policy}${p.order ? " " + p.order : ""}`);
    const version = reply?.status === 200 ? (reply.body as { job: { version: number } }).job.version : undefined;
    this.ledger.push({ seq, kind: "apply", job: `default/${name}`, acked: reply?.status === 200, ...(version !== undefined ? { version } : {}) });
    if (reply?.status === 200) p.status = "running";
  }

  /** The first jobs, applied before faults begin. */
  async start(seq: () => number, via: () => Instance): Promise<void> {
    for (const name of JOBS.slice(0, 2)) {
      const p = this.newPlan();
      this.jobs.set(name, p);
      await this.apply(seq(), via(), name, p, "apply");
    }
  }

  private newPlan(): JobPlan {
    const policy = this.rng.chance(0.6) ? "stop" : "keep";
    // start-first runs two copies of a slot for a moment, which only disconnect keep allows.
    const order = this.withOrder ? this.rng.pick(policy === "keep" ? (["stop-first", "start-first", null] as const) : (["stop-first", null] as const)) : null;
    return { policy, order, replicas: this.rng.int(1, 4), env: 1, image: "busybox", parallelism: this.rng.int(1, 2), status: "absent" };
  }

  async act(seq: number, via: Instance, nodes: { id: string; name: string }[]): Promise<void> {
    const r = this.rng.next();
    const name = this.rng.pick(JOBS);
    const existing = this.jobs.get(name);
    if (r < 0.55) {
      const p = existing ?? this.newPlan();
      this.jobs.set(name, p);
      const kind = this.rng.int(0, 2);
      let what = p.status === "stopped" ? "start" : p.status === "absent" ? "apply" : "";
      if (!what && kind === 0) ((p.replicas = this.rng.int(0, 4)), (what = "scale"));
      else if (!what && kind === 1) ((p.env += 1), (what = "update-env"));
      else if (!what) ((p.image = p.image === "busybox" ? "busybox:1.36" : "busybox"), (what = "update-image"));
      return this.apply(seq, via, name, p, what);
    }
    if (r < 0.68 && existing?.status === "running") {
      const reply = await this.call(seq, via, "POST", `/v1/namespaces/default/jobs/${name}/stop`, undefined, `stop ${name}`);
      this.ledger.push({ seq, kind: "stop", job: `default/${name}`, acked: reply?.status === 200 });
      if (reply?.status === 200) existing.status = "stopped";
      return;
    }
    if (r < 0.74 && existing?.status === "stopped") {
      const reply = await this.call(seq, via, "DELETE", `/v1/namespaces/default/jobs/${name}`, undefined, `delete ${name}`);
      this.ledger.push({ seq, kind: "delete", job: `default/${name}`, acked: reply?.status === 200 });
      if (reply?.status === 200) this.jobs.delete(name);
      return;
    }
    const node = this.rng.pick(nodes);
    if (r < 0.86 && (this.out.size < MAX_OUT || this.out.has(node.id))) {
      const enable = !this.out.has(node.id) || this.rng.chance(0.3);
      const deadline = this.rng.pick(["1h", "3s", "0s"]);
      const reply = await this.call(seq, via, "POST", `/v1/nodes/${node.id}/drain`, enable ? { enable, deadline } : { enable }, `drain ${node.name} ${enable ? `deadline ${deadline}` : "cancel"}`);
      // Unanswered drains may have happened: the node counts as out either way.
      if (enable) this.out.add(node.id);
      void reply;
      return;
    }
    if (this.out.size >= MAX_OUT && !this.out.has(node.id)) return;
    const eligible = this.out.has(node.id);
    const reply = await this.call(seq, via, "POST", `/v1/nodes/${node.id}/eligibility`, { eligible }, `eligibility ${node.name} ${eligible}`);
    // A node counts as out until an answered "eligible" brings it back (a drain that completed leaves it ineligible).
    if (!eligible) this.out.add(node.id);
    else if (reply?.status === 200) this.out.delete(node.id);
  }
}

function problem(reply: Reply): string {
  const body = reply.body as { detail?: string; type?: string } | null;
  return (body?.detail ?? body?.type ?? "").slice(0, 120);
}
