// leasehold plan FILE: what applying the file would do — the change, its field diff, each node's slots —
// and the guarded apply that makes it so. Exits as nomad job plan does: 0 no change, 1 changes, 255 error.
import { CommanderError, type Command } from "commander";
import { formatChange } from "../../api/spec-diff";
import type { PlanResponse } from "../api-types";
import { commandContext } from "../context";
import { PLAN_EXIT, PLAN_EXIT_CODES_HELP } from "../exit-codes";
import { formatTable } from "../format";
import { ExitCodeError, ExitWith, type CliIo } from "../io";
import { prepareJobFile } from "./apply";

export function registerPlan(program: Command, io: CliIo): void {
  program
    .command("plan")
    .description("show what applying a job file would change, and where its slots would go, without applying it")
    .argument("<file>", "job file")
    .option("--json", "print the control plane's answer as JSON (as -o json)")
    .addHelpText("after", PLAN_EXIT_CODES_HELP)
    // Usage errors are errors too: 255, since 1 means "changes" here. Help and version stay 0.
    .exitOverride((err) => {
      throw err.exitCode === 0 ? err : new CommanderError(PLAN_EXIT.error, err.code, err.message);
    })
    .action(async (file: string, opts: { json?: boolean }, cmd: Command) => {
      let answer: PlanResponse;
      const ctx = commandContext(cmd, io);
      try {
        answer = await ctx.client().planJob(await prepareJobFile(ctx, file));
      } catch (err) {
        throw new ExitCodeError(PLAN_EXIT.error, err);
      }
      if (opts.json || ctx.output === "json") ctx.json(answer);
      else ctx.out(describePlan(answer, applyHint(file, answer, ctx.namespaceGiven ? ctx.namespace : null)));
      // Not an error: the answer to the question asked, for scripts. Nothing more is printed.
      if (answer.change !== "none") throw new ExitWith(PLAN_EXIT.changes);
    });
}

/** The apply that does what this plan saw, and refuses if the job moved on meanwhile. */
export function applyHint(file: string, plan: PlanResponse, namespace: string | null): string {
  return `apply with: leasehold apply ${file} --check-version ${plan.current?.version ?? 0}${namespace === null ? "" : ` -n ${namespace}`}`;
}

export function describePlan(plan: PlanResponse, hint: string): string {
  const lines = [headline(plan)];
  for (const change of plan.diff) lines.push(`  ${formatChange(change)}`);
  lines.push("");
  if (plan.nodes.length > 0) {
    const rows = plan.nodes.map((n) => [n.name, formatSlots(n.placed), formatSlots(n.stopped), formatSlots(n.kept), formatSlots(n.rolled)]);
    lines.push(formatTable(["NODE", "PLACED", "STOPPED", "KEPT", "ROLLED"], rows));
  }
  for (const u of plan.unplaced) lines.push(`slot ${u.slot} would not be placed: ${u.reason}`);
  if (plan.unplaced.length > 0) lines.push("");
  lines.push(hint);
  return lines.join("\n");
}

function headline(plan: PlanResponse): string {
  const job = `job ${plan.jobId}`;
  const count = `${plan.replicas} replica${plan.replicas === 1 ? "" : "s"}`;
  const { current } = plan;
  switch (plan.change) {
    case "create":
      return `${job}: new job, version 1 with ${count}`;
    case "none":
      return `${job}: no change (version ${plan.version}, ${count})`;
    case "scale":
      return `${job}: scale from ${current?.replicas ?? 0} to ${plan.replicas}, version ${plan.version} stays`;
    case "version":
      if (current?.status === "stopped") return `${job} is stopped: applying runs it again as version ${plan.version} with ${count}`;
      return `${job}: new version ${plan.version} (now ${current?.version ?? 0}) with ${count}, rolled out under its update strategy`;
  }
}

/** "0-2, 5, 7-8"; "-" for none. */
export function formatSlots(slots: readonly number[]): string {
  if (slots.length === 0) return "-";
  const runs: string[] = [];
  let start = slots[0] as number;
  let prev = start;
  for (const slot of [...slots.slice(1), Number.NaN]) {
    if (slot === prev + 1) {
      prev = slot;
      continue;
    }
    runs.push(start === prev ? String(start) : `${start}-${prev}`);
    start = prev = slot;
  }
  return runs.join(", ");
}
