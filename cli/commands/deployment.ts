// leasehold deployment list [JOB] | status JOB|ID | promote|pause|resume|fail JOB|ID: the rollouts of new
// service versions, one deployment per version. JOB names the job's latest deployment; anything that is
// not a job with a deployment is tried as a deployment id (or a unique prefix of one).
import { Option, type Command } from "commander";
import type { DeploymentDetail, DeploymentStatus } from "../api-types";
import { ApiError, type ControlPlaneClient } from "../client";
import { commandContext, type CommandContext } from "../context";
import { endReason, jobNameOf, progressPhrase, shortDeploymentId, slotName, versionsOf } from "../deployment-progress";
import { dash, formatAge, formatFields, formatTable, formatUtc, oneLine } from "../format";
import { CliError, type CliIo } from "../io";
import { intOption } from "../options";
import { nodeNamesById } from "./status";

const STATUSES: DeploymentStatus[] = ["running", "paused", "successful", "failed", "reverted", "cancelled"];

type Action = "promote" | "pause" | "resume" | "fail";

const ACTIONS: { action: Action; description: string; done: string }[] = [
  { action: "promote", description: "promote the canaries: the rollout goes on to the other slots (refused while a canary is not healthy, unless --force)", done: "promoted: the rollout goes on to the other slots" },
  { action: "pause", description: "pause the rollout: no more slots are updated (failed tasks are still replaced)", done: "paused: no more slots are updated until it is resumed" },
  { action: "resume", description: "resume a paused rollout; its progress deadline starts again", done: "resumed" },
  { action: "fail", description: "fail the rollout now (with update.autoRevert, the last successful version is rolled out again)", done: "failed" },
];

/** JOB's latest deployment, else the deployment whose id starts with `ref`. */
export async function resolveDeployment(client: ControlPlaneClient, namespace: string, ref: string): Promise<DeploymentDetail> {
  // 404: no such job, or a job without deployments; 400: not a valid job name. Either way, try it as an id.
  const unknown = (err: unknown) => err instanceof ApiError && (err.status === 404 || err.status === 400);
  try {
    return await client.jobDeployment(namespace, ref);
  } catch (err) {
    if (!unknown(err)) throw err;
  }
  try {
    return await client.getDeployment(namespace, ref);
  } catch (err) {
    if (!unknown(err)) throw err;
  }
  const job = await client.getJob(namespace, ref).catch(() => null);
  if (job !== null) throw new CliError(`job ${job.job.id} has no deployment: only a service job's new versions are rolled out as deployments`);
  throw new CliError(`no job with a deployment and no deployment id ${ref} in namespace ${namespace}`);
}

export function registerDeployment(program: Command, io: CliIo): void {
  const deployment = program.command("deployment").description("list, show and steer the rollouts of new service versions (JOB: its latest; or a deployment id)");

  deployment
    .command("list")
    .description("list deployments, newest first")
    .argument("[job]", "only this job's")
    .addOption(new Option("--status <status>", "only deployments in this state").choices(STATUSES))
    .addOption(new Option("--limit <n>", "at most this many").argParser(intOption(1, 500)).default(50))
    .option("--json", "print the API's answer")
    .action(async (job: string | undefined, opts: { status?: DeploymentStatus; limit: number; json?: boolean }, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const list = await ctx.client().listDeployments(ctx.namespace, { ...(job !== undefined ? { job } : {}), ...(opts.status ? { status: opts.status } : {}), limit: opts.limit });
      if (opts.json || ctx.output === "json") return ctx.json(list);
      if (list.deployments.length === 0) return ctx.out(job === undefined ? `no deployments in namespace ${ctx.namespace}` : `job ${ctx.namespace}/${job} has no deployments`);
      const now = Date.now();
      const rows = list.deployments.map((d) => [shortDeploymentId(d.id), jobNameOf(d), versionsOf(d), d.status, formatAge(d.createdAt, now), oneLine(d.description)]);
      ctx.out(formatTable(["ID", "JOB", "VERSION", "STATUS", "AGE", "DESCRIPTION"], rows));
    });

  deployment
    .command("status")
    .description("show a deployment: where it stands, its slots and its events")
    .argument("<job-or-id>", "a job (its latest deployment) or a deployment id")
    .option("--json", "print the API's answer")
    .action(async (ref: string, opts: { json?: boolean }, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const client = ctx.client();
      const [d, nodeNames] = await Promise.all([resolveDeployment(client, ctx.namespace, ref), nodeNamesById(client)]);
      if (opts.json || ctx.output === "json") return ctx.json(d);
      ctx.out(describeDeployment(d, nodeNames, Date.now()));
    });

  for (const { action, description, done } of ACTIONS) {
    const command = deployment.command(action).description(description).argument("<job-or-id>", "a job (its latest deployment) or a deployment id");
    if (action === "promote") command.option("--force", "promote even while a canary is not healthy");
    command.action(async (ref: string, opts: { force?: boolean }, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      await runAction(ctx, action, ref, opts.force === true, done);
    });
  }
}

async function runAction(ctx: CommandContext, action: Action, ref: string, force: boolean, done: string): Promise<void> {
  const client = ctx.client();
  const target = await resolveDeployment(client, ctx.namespace, ref);
  const result = await client.deploymentAction(ctx.namespace, target.id, action, action === "promote" ? { force } : {});
  if (ctx.output === "json") return ctx.json(result);
  const d = result.deployment;
  const subject = `deployment ${shortDeploymentId(d.id)} of ${d.jobId} (version ${d.version})`;
  // A fail may be reverted in the same request (update.autoRevert): the answer says which.
  ctx.out(action === "fail" ? `${subject} ${endReason(d)}` : `${subject} ${done}`);
}

/** One deployment: its fields, the slot table, its events. */
export function describeDeployment(d: DeploymentDetail, nodeNames: Map<string, string>, now: number): string {
  const c = d.counts;
  const fields: [string, string][] = [
    ["deployment", d.id],
    ["job", d.jobId],
    ["status", d.status],
    ["description", oneLine(d.description)],
    ["versions", d.fromVersion === null ? `${d.version} (the job's first)` : `${d.fromVersion} → ${d.version}`],
    ["progress", progressPhrase(d)],
    ["counts", `${c.desired} desired, ${c.canaries} ${c.canaries === 1 ? "canary" : "canaries"}, ${c.placed} placed, ${c.healthy} healthy, ${c.old} old, ${c.offline} offline`],
  ];
  if (c.canaries > 0) fields.push(["canaries", d.promoted ? "promoted" : "not promoted"]);
  if (d.wave !== null || d.wavesDone.length > 0) fields.push(["waves", [...d.wavesDone.map((w) => `${w} done`), ...(d.wave !== null ? [`${d.wave} rolling`] : [])].join(", ")]);
  if (d.revertOf !== null) fields.push(["reverts", d.revertOf]);
  if (d.cause) fields.push(["cause", `secret ${d.cause.secret} version ${d.cause.version}`]);
  fields.push(["started", `${formatUtc(d.createdAt)} UTC (${formatAge(d.createdAt, now)} ago)`]);
  fields.push(["updated", `${formatUtc(d.updatedAt)} UTC (${formatAge(d.updatedAt, now)} ago)`]);
  let out = formatFields(fields);
  if (d.slots.length > 0) {
    const rows = d.slots.map((s) => [
      s.canary ? slotName(s.slot) : String(s.slot),
      s.nodeId ? (nodeNames.get(s.nodeId) ?? s.nodeId.slice(0, 8)) : "-",
      dash(s.region),
      `${dash(s.state)}${s.offline ? " (host offline)" : ""}`,
      s.healthy ? "yes" : "no",
      dash(s.oldVersion),
    ]);
    out += "\n" + formatTable(["SLOT", "NODE", "REGION", "STATE", "HEALTHY", "OLD VERSION"], rows);
  }
  if (d.events.length > 0) {
    out += "\nEvents:\n";
    const rows = d.events.map((e) => [formatUtc(e.at), e.type, oneLine(e.message)]);
    out += formatTable(["TIME (UTC)", "TYPE", "MESSAGE"], rows).split("\n").map((l) => (l ? "  " + l : l)).join("\n");
  }
  return out;
}
