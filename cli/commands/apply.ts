// leasehold apply FILE [--wait]: validate locally, send the file, report placement, optionally wait: for a new
// service version, until its deployment ends; for a scale or a batch job, until the tasks are there.
import { readFile } from "node:fs/promises";
import { Option, type Command } from "commander";
import { isMap, parseDocument } from "yaml";
import { JobFileError, readJobFile } from "../../api/job-file";
import type { ApplyResponse, DeploymentDetail, JobDetail } from "../api-types";
import { ApiError, type ControlPlaneClient } from "../client";
import { commandContext, type CommandContext } from "../context";
import { shortDeploymentId, versionsOf } from "../deployment-progress";
import { EXIT, EXIT_CODES_HELP } from "../exit-codes";
import { EventWaker } from "../event-follow";
import { fleetOf, followDeployment } from "../follow-deployment";
import { CliError, type CliIo } from "../io";
import { wantsColor } from "../live-display";
import { durationOption, intOption } from "../options";
import { readiness } from "../readiness";
import { STORED_HINT, WaitJudge, waitFailure } from "../wait";


interface ApplyOptions {
  wait?: boolean;
  timeout: number;
  checkVersion?: number;
}

export function registerApply(program: Command, io: CliIo): void {
  program
    .command("apply")
    .description("create or update a job from a YAML or JSON job file")
    .argument("<file>", "job file")
    .option("--wait", "wait until the new version runs healthy in every slot (its deployment succeeds; a scale: every replica running and healthy; batch: complete); stop early once it cannot")
    .addOption(new Option("--timeout <duration>", "how long --wait waits").argParser(durationOption).default(120_000, "2m"))
    .addOption(
      new Option("--check-version <version>", "apply only if the job is still at this version (0: only if it does not exist yet)").argParser(intOption(0, Number.MAX_SAFE_INTEGER)),
    )
    .addHelpText("after", EXIT_CODES_HELP)
    .action(async (file: string, opts: ApplyOptions, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const text = await prepareJobFile(ctx, file);
      const client = ctx.client();
      const result = await client.applyJob(text, opts.checkVersion);
      if (!opts.wait) {
        if (ctx.output === "json") ctx.json(result);
        else ctx.out(describeApply(result));
        const unplaced = unplacedByApply(result);
        if (unplaced.length > 0) {
          const slots = unplaced.length === 1 ? "1 slot" : `${unplaced.length} slots`;
          throw new CliError(`${slots} of ${result.job.id} could not be placed; ${STORED_HINT}`, [], { exitCode: EXIT.unplaced });
        }
        return;
      }
      if (ctx.output === "table") ctx.out(describeApply(result));
      const deployment = await deploymentToFollow(ctx.client(), result);
      if (deployment === null) {
        const detail = await waitForJob(ctx, result, opts.timeout);
        if (ctx.output === "json") ctx.json({ ...result, wait: detail });
        return;
      }
      const followed = await waitForDeployment(ctx, result, deployment, opts.timeout);
      if (ctx.output === "json") ctx.json({ ...result, wait: await ctx.client().getJob(result.job.namespace, result.job.name), deployment: followed });
    });
}

/**
 * What apply --wait follows: a new version of a service job is rolled out as a deployment, and the wait
 * is for that deployment, as rollout status waits. An unchanged apply follows the current version's
 * deployment while it has not succeeded (a wait started again after a timeout). A scale (no new version)
 * and a batch job have none: their wait is for the tasks.
 */
async function deploymentToFollow(client: ControlPlaneClient, r: ApplyResponse): Promise<DeploymentDetail | null> {
  if (r.job.type !== "service" || r.scaled) return null;
  if (r.deploymentId !== undefined) return client.getDeployment(r.job.namespace, r.deploymentId);
  // The apply's answer does not name it: the job's latest deployment, if it rolls out this version.
  let latest: DeploymentDetail;
  try {
    latest = await client.jobDeployment(r.job.namespace, r.job.name);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
  if (latest.version !== r.job.version) return null;
  return r.changed || latest.status !== "successful" ? latest : null;
}

async function waitForDeployment(ctx: CommandContext, applied: ApplyResponse, d: DeploymentDetail, timeoutMs: number): Promise<DeploymentDetail> {
  const { id } = applied.job;
  const { detail, seconds } = await followDeployment(ctx.client(), {
    namespace: applied.job.namespace,
    deployment: d,
    timeoutMs,
    subject: `job ${id} version ${d.version}`,
    out: ctx.io.stderr,
    view: { header: `waiting for ${id}: deployment ${shortDeploymentId(d.id)}, version ${versionsOf(d)}`, linePrefix: `waiting for ${id}: `, color: wantsColor(ctx.io.stderr, ctx.io.env) },
  });
  if (ctx.output === "table") ctx.out(`job ${id} ready: ${detail.description} (${seconds}s)`);
  return detail;
}

/** Reads and validates the file; returns the text to send, with the namespace from -n filled in. */
export async function prepareJobFile(ctx: CommandContext, file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, [], { cause: err });
  }
  let namespace: string;
  try {
    namespace = readJobFile(text).namespace;
  } catch (err) {
    if (err instanceof JobFileError && err.issues.length > 0) throw new CliError(`${file} is not a valid job file`, err.issues, { cause: err });
    if (err instanceof JobFileError) throw new CliError(`${file}: ${err.message}`, [], { cause: err });
    throw err;
  }
  if (!ctx.namespaceGiven || namespace === ctx.namespace) return text;
  // The file names no namespace: -n supplies it. A file that names another one is a mistake worth stopping.
  const doc = parseDocument(text);
  if (!isMap(doc.contents)) return text;
  if (doc.has("namespace")) throw new CliError(`${file} is for namespace "${namespace}" but -n says "${ctx.namespace}"`);
  doc.set("namespace", ctx.namespace);
  return doc.toString();
}

function describeApply(r: ApplyResponse): string {
  const what = r.scaled ? `scaled from ${r.scaled.from} to ${r.scaled.to}` : r.changed ? "applied" : "unchanged";
  const lines = [`job ${r.job.id} ${what}: version ${r.job.version}`];
  const e = r.evaluation;
  if (e) {
    const counts = (["placed", "replaced", "stopped"] as const).filter((k) => (e[k] ?? 0) > 0).map((k) => `${e[k]} ${k}`);
    if (counts.length > 0) lines.push(`  ${counts.join(", ")}`);
    for (const u of e.unplaced ?? []) lines.push(`  slot ${u.slot} not placed: ${u.reason}`);
  }
  return lines.join("\n");
}

/** The apply's own evaluation: the slots of this job it could not place. */
function unplacedByApply(r: ApplyResponse) {
  return (r.evaluation?.unplaced ?? []).filter((u) => u.jobId === undefined || u.jobId === r.job.id);
}

async function waitForJob(ctx: CommandContext, applied: ApplyResponse, timeoutMs: number): Promise<JobDetail> {
  const client = ctx.client();
  const { namespace, name, id } = applied.job;
  const started = Date.now();
  const deadline = started + timeoutMs;
  const judge = new WaitJudge();
  const waker = new EventWaker(client, { namespace, job: name });
  try {
    for (;;) {
      const detail = await client.getJob(namespace, name);
      const r = readiness(detail);
      const fleet = r.slots.some((s) => s.unplaced !== null) ? await fleetOf(client) : null;
      const seen = judge.observe(r, fleet, Date.now());
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (seen.verdict.kind === "ready") {
        if (ctx.output === "table") ctx.out(`job ${id} ready: ${r.progress} (${seconds}s)`);
        return detail;
      }
      if (seen.progress !== null) ctx.note(`waiting for ${id}: ${seen.progress}`);
      for (const s of seen.slots) ctx.note(`  slot ${s.slot}: ${s.phrase}`);
      const left = deadline - Date.now();
      const verdict = left <= 0 && seen.verdict.kind === "waiting" ? WaitJudge.atDeadline(r) : seen.verdict;
      if (verdict.kind !== "waiting" && verdict.kind !== "ready") throw waitFailure(id, verdict, r, seconds);
      await waker.wait(Math.min(waker.lookAgainMs(fleet !== null), left));
    }
  } finally {
    waker.close();
  }
}
