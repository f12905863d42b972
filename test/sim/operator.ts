// The operator: seeded actions through the public API — apply, start, update (a new image, env or update
// block; some versions bad), scale (through the scale route, or by applying a new count), rollback, stop,
// delete, a deployment's promote, pause, resume and fail, drain and eligibility — each recorded in the
// ledger so acknowledged writes can be checked. Once faults stop it settles what waits on it (settle).
import { jobSpecSchema } from "../../api/job-spec";
import type { Instance, Reply } from "./instances";
import { newOutcome, newPlan, newUpdate, planLine, specOf, templateOf, type Fleet, type JobPlan } from "./job-plans";
import type { LedgerEntry, LedgerKind } from "./ledger";
import type { Rng } from "./rng";

const JOBS = ["alpha", "beta", "gamma", "delta"];
/** Nodes an operator may have out of service at once (and never a region's last): the rest always fit every job (see world.ts). */
const MAX_OUT = 2;

export interface SimNode {
  id: string;
  name: string;
  region: string;
}

/** What the operator reads of a job's latest deployment (GET …/jobs/{name}/deployment). */
interface DeploymentView {
  id: string;
  version: number;
  status: string;
  promoted: boolean;
  wave: string | null;
  wavesDone: string[];
  slots: { canary: boolean; healthy: boolean; region: string | null }[];
}

type DeploymentAction = "promote" | "pause" | "resume" | "fail";

/** Whether the job schema takes `update.order` yet (it is being added): probe it instead of assuming. */
export function schemaHasUpdateOrder(): boolean {
  return jobSpecSchema.safeParse({ name: "probe", image: "busybox", update: { order: "start-first" } }).success;
}

export class Operator {
  readonly ledger: LedgerEntry[] = [];
  private readonly jobs = new Map<string, JobPlan>();
  private readonly out = new Set<string>();
  /** Deployments whose canaries settle found all healthy: promoted at the next settle, if still waiting. */
  private promotable = new Set<string>();

  constructor(
    private readonly rng: Rng,
    private readonly token: string,
    private readonly fleet: Fleet,
    private readonly note: (who: string, what: string) => void,
  ) {}

  private async call(via: Instance, method: string, path: string, body: unknown, what: string): Promise<Reply | null> {
    const reply = await via.request(method, path, this.token, body);
    this.note(via.name, `op ${what} → ${reply ? reply.status : "no reply"}${reply && reply.status >= 400 ? ` ${problem(reply)}` : ""}`);
    return reply;
  }

  private record(seq: number, kind: LedgerKind, name: string, reply: Reply | null, more: Partial<LedgerEntry> = {}): boolean {
    const acked = reply?.status === 200;
    this.ledger.push({ seq, kind, job: `default/${name}`, acked, ...more });
    return acked;
  }

  private async apply(seq: number, via: Instance, name: string, p: JobPlan, what: string): Promise<void> {
    const reply = await this.call(via, "POST", "/v1/jobs", specOf(name, p), `${what} ${name} ${planLine(p)}`);
    const body = reply?.status === 200 ? (reply.body as { job: { version: number }; changed: boolean; scaled?: unknown }) : undefined;
    if (this.record(seq, "apply", name, reply, body ? { version: body.job.version } : {})) p.status = "running";
    if (body?.changed && !body.scaled) p.versions.set(body.job.version, templateOf(p));
  }

  /** The first jobs, applied before faults begin. */
  async start(seq: () => number, via: () => Instance): Promise<void> {
    for (const name of JOBS.slice(0, 2)) {
      const p = newPlan(this.rng, this.fleet);
      this.jobs.set(name, p);
      await this.apply(seq(), via(), name, p, "apply");
    }
  }

  async act(seq: number, via: Instance, nodes: SimNode[]): Promise<void> {
    const r = this.rng.next();
    const name = this.rng.pick(JOBS);
    const existing = this.jobs.get(name);
    const running = existing?.status === "running" ? existing : undefined;
    if (r < 0.36) return this.applyOne(seq, via, name, existing);
    if (r < 0.46 && running) return this.scale(seq, via, name, running);
    if (r < 0.52 && running) return this.rollback(seq, via, name, running);
    if (r < 0.68 && running) return this.actOnDeployment(seq, via, name);
    if (r < 0.76 && running) {
      const reply = await this.call(via, "POST", `/v1/namespaces/default/jobs/${name}/stop`, undefined, `stop ${name}`);
      if (this.record(seq, "stop", name, reply)) running.status = "stopped";
      return;
    }
    if (r < 0.81 && existing?.status === "stopped") {
      const reply = await this.call(via, "DELETE", `/v1/namespaces/default/jobs/${name}`, undefined, `delete ${name}`);
      if (this.record(seq, "delete", name, reply)) this.jobs.delete(name);
      return;
    }
    return this.actOnNode(via, r, nodes);
  }

  /** Start, first apply, a new count in the job file, or an update (of its image, env or update block). */
  private async applyOne(seq: number, via: Instance, name: string, existing: JobPlan | undefined): Promise<void> {
    const p = existing ?? newPlan(this.rng, this.fleet);
    this.jobs.set(name, p);
    if (p.status !== "running") return this.apply(seq, via, name, p, p.status === "stopped" ? "start" : "apply");
    const kind = this.rng.int(0, 3);
    if (kind === 0) {
      p.replicas = this.rng.int(0, 4);
      return this.apply(seq, via, name, p, "scale-by-apply");
    }
    if (kind === 1) p.env += 1;
    else if (kind === 2) p.image = p.image === "busybox" ? "busybox:1.36" : "busybox";
    else p.update = newUpdate(this.rng, this.fleet, p.policy);
    p.bad = newOutcome(this.rng);
    return this.apply(seq, via, name, p, ["", "update-env", "update-image", "update-rules"][kind] as string);
  }

  private async scale(seq: number, via: Instance, name: string, p: JobPlan): Promise<void> {
    const replicas = this.rng.int(0, 4);
    const reply = await this.call(via, "POST", `/v1/namespaces/default/jobs/${name}/scale`, { replicas }, `scale ${name} ${p.replicas} -> ${replicas}`);
    this.record(seq, "scale", name, reply, { replicas });
    // Unanswered, it may have happened: the next job file says this count either way.
    p.replicas = replicas;
  }

  /** Back to the version before (no body), or to one the operator saw acknowledged. */
  private async rollback(seq: number, via: Instance, name: string, p: JobPlan): Promise<void> {
    const known = [...p.versions.keys()];
    const target = known.length > 1 && this.rng.chance(0.5) ? this.rng.pick(known) : undefined;
    const reply = await this.call(via, "POST", `/v1/namespaces/default/jobs/${name}/rollback`, target === undefined ? undefined : { version: target }, `rollback ${name} to ${target === undefined ? "the version before" : `v${target}`}`);
    const body = reply?.status === 200 ? (reply.body as { job: { version: number }; changed: boolean; rolledBackTo: number }) : undefined;
    this.record(seq, "rollback", name, reply, body ? { version: body.job.version } : {});
    if (!body) return;
    const template = p.versions.get(body.rolledBackTo);
    if (template) Object.assign(p, templateOf(template));
    if (body.changed) p.versions.set(body.job.version, templateOf(p));
  }

  private async deployment(via: Instance, name: string): Promise<DeploymentView | null> {
    const reply = await via.request("GET", `/v1/namespaces/default/jobs/${name}/deployment`, this.token);
    return reply?.status === 200 ? (reply.body as DeploymentView) : null;
  }

  /** A promote, pause, resume or fail at a random moment: some are refused (the deployment has moved on). */
  private async actOnDeployment(seq: number, via: Instance, name: string): Promise<void> {
    const d = await this.deployment(via, name);
    if (!d) return;
    const pick = (choices: [DeploymentAction, number][]): DeploymentAction => {
      let x = this.rng.next() * choices.reduce((sum, [, w]) => sum + w, 0);
      for (const [action, w] of choices) if ((x -= w) < 0) return action;
      return choices[0]?.[0] ?? "pause";
    };
    const action =
      d.status === "paused"
        ? pick([["resume", 8], ["fail", 1], ["promote", 1]])
        : d.status === "running" && !d.promoted
          ? pick([["promote", 7], ["pause", 2], ["fail", 1]])
          : d.status === "running"
            ? pick([["pause", 6], ["fail", 2], ["promote", 1], ["resume", 1]])
            : pick([["promote", 1], ["pause", 1], ["resume", 1], ["fail", 1]]);
    const force = action === "promote" && this.rng.chance(0.2);
    await this.deploymentAction(seq, via, name, d, action, force, "");
  }

  private async deploymentAction(seq: number, via: Instance, name: string, d: DeploymentView, action: DeploymentAction, force: boolean, why: string): Promise<void> {
    // Named by job and version in the trace: deployment ids are not seeded, and a replay must read the same.
    const what = `${why}${action}${force ? " (force)" : ""} ${name} v${d.version} (${d.status}${d.promoted ? "" : ", canaries waiting"})`;
    const reply = await this.call(via, "POST", `/v1/namespaces/default/deployments/${d.id}/${action}`, force ? { force } : undefined, what);
    const after = reply?.status === 200 ? (reply.body as { deployment: { wavesDone: string[] } }).deployment : undefined;
    this.record(seq, action, name, reply, { deployment: d.id, ...(after ? { wavesDone: after.wavesDone.length } : {}) });
  }

  /**
   * Once faults stop, what waits on the operator is answered: paused deployments are resumed, and canaries
   * found all healthy (in the wave that waits) at two looks in a row are promoted — the second look leaves
   * autoPromote its moment. Every job is read from the API, not from what the operator believes: an
   * unanswered apply may have created one.
   */
  async settle(seq: () => number, via: Instance): Promise<void> {
    const list = await via.request("GET", "/v1/namespaces/default/jobs", this.token);
    if (list?.status !== 200) return;
    const promotable = new Set<string>();
    for (const job of (list.body as { jobs: { name: string; status: string }[] }).jobs) {
      if (job.status !== "running") continue;
      const d = await this.deployment(via, job.name);
      if (!d) continue;
      if (d.status === "paused") await this.deploymentAction(seq(), via, job.name, d, "resume", false, "settle: ");
      else if (d.status === "running" && !d.promoted) {
        const canaries = d.slots.filter((s) => s.canary);
        if (canaries.length === 0 || !canaries.every((s) => s.healthy && (d.wave === null || s.region === d.wave))) continue;
        const key = `${d.id}:${d.wavesDone.length}`;
        if (this.promotable.has(key)) await this.deploymentAction(seq(), via, job.name, d, "promote", false, "settle: ");
        else promotable.add(key);
      }
    }
    this.promotable = promotable;
  }

  /** Drain (with a deadline, or cancelled) or eligibility, keeping every region a node in service. */
  private async actOnNode(via: Instance, r: number, nodes: SimNode[]): Promise<void> {
    const node = this.rng.pick(nodes);
    const mayGoOut = this.out.has(node.id) || (this.out.size < MAX_OUT && nodes.some((n) => n.region === node.region && n.id !== node.id && !this.out.has(n.id)));
    if (!mayGoOut) return;
    if (r < 0.9) {
      const enable = !this.out.has(node.id) || this.rng.chance(0.3);
      const deadline = this.rng.pick(["1h", "3s", "0s"]);
      await this.call(via, "POST", `/v1/nodes/${node.id}/drain`, enable ? { enable, deadline } : { enable }, `drain ${node.name} ${enable ? `deadline ${deadline}` : "cancel"}`);
      // Unanswered drains may have happened: the node counts as out either way.
      if (enable) this.out.add(node.id);
      return;
    }
    const eligible = this.out.has(node.id);
    const reply = await this.call(via, "POST", `/v1/nodes/${node.id}/eligibility`, { eligible }, `eligibility ${node.name} ${eligible}`);
    // A node counts as out until an answered "eligible" brings it back (a drain that completed leaves it ineligible).
    if (!eligible) this.out.add(node.id);
    else if (reply?.status === 200) this.out.delete(node.id);
  }
}

/** Ids are left out: deployment ids are not seeded, and a replay must read the same. */
function problem(reply: Reply): string {
  const body = reply.body as { detail?: string; type?: string } | null;
  return (body?.detail ?? body?.type ?? "").replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, "<id>").slice(0, 120);
}
