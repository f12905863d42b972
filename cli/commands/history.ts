// leasehold history JOB [--diff A B], leasehold rollback JOB [--to V], leasehold scale JOB N: a job's
// versions and the two ways of changing it that need no file.
import { Option, type Command } from "commander";
import type { JobVersion } from "../api-types";
import { commandContext } from "../context";
import { formatAge, formatTable } from "../format";
import type { CliIo } from "../io";
import { CliError } from "../io";
import { intOption } from "../options";
import { diffSpecs, formatChange } from "../../api/spec-diff";

type Version = JobVersion;

/** The count is not part of a version (a scale changes it alone): history compares templates. */
const template = (spec: Record<string, unknown>) => ({ ...spec, replicas: undefined });

export function registerHistory(program: Command, io: CliIo): void {
  program
    .command("history")
    .description("list a job's versions with the fields each one changed, or diff two of them")
    .argument("<job>", "job name")
    .addOption(new Option("--diff <versions...>", "show the field-level difference between two versions (A B)"))
    .action(async (name: string, opts: { diff?: string[] }, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const { versions } = await ctx.client().jobVersions(ctx.namespace, name);
      if (opts.diff) {
        const wanted = opts.diff.map(Number);
        if (wanted.length !== 2 || wanted.some((v) => !Number.isInteger(v) || v < 1)) throw new CliError("--diff takes two version numbers, e.g. --diff 2 3");
        const [a, b] = wanted.map((v) => versions.find((x) => x.version === v)) as [Version | undefined, Version | undefined];
        if (!a || !b) throw new CliError(`job ${name} has no version ${a ? wanted[1] : wanted[0]} (it has ${versions.map((v) => v.version).reverse().join(", ")})`);
        const changes = diffSpecs(template(a.spec), template(b.spec));
        if (ctx.output === "json") return ctx.json({ from: a.version, to: b.version, changes });
        return ctx.out(changes.length === 0 ? `versions ${a.version} and ${b.version} are the same template` : changes.map(formatChange).join("\n"));
      }
      if (ctx.output === "json") return ctx.json({ versions });
      const now = Date.now();
      const rows = versions.map((v, i) => {
        const previous = versions[i + 1];
        const changed = previous ? diffSpecs(template(previous.spec), template(v.spec)).map((c) => c.path) : [];
        return [String(v.version), formatAge(v.createdAt, now), v.createdBy, previous ? changed.join(", ") || "(no field)" : "(first)"];
      });
      ctx.out(formatTable(["VERSION", "AGE", "BY", "CHANGED"], rows));
    });

  program
    .command("rollback")
    .description("roll a job back: a new version equal to an earlier one, rolled out under its update strategy")
    .argument("<job>", "job name")
    .addOption(new Option("--to <version>", "the version to go back to (default: the one before the current)").argParser(intOption(1, Number.MAX_SAFE_INTEGER)))
    .action(async (name: string, opts: { to?: number }, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const result = await ctx.client().rollbackJob(ctx.namespace, name, opts.to === undefined ? {} : { version: opts.to });
      if (ctx.output === "json") return ctx.json(result);
      ctx.out(
        result.changed
          ? `job ${result.job.id} rolled back to version ${result.rolledBackTo}'s spec: now version ${result.job.version}, rolling out`
          : `job ${result.job.id} already runs version ${result.rolledBackTo}'s spec (version ${result.job.version})`,
      );
    });

  program
    .command("scale")
    .description("change a running job's count: no new version, no surviving replica restarted")
    .argument("<job>", "job name")
    .argument("<replicas>", "the new count", intOption(0, 10_000))
    .addOption(new Option("--check-version <version>", "scale only if the job is still at this version").argParser(intOption(1, Number.MAX_SAFE_INTEGER)))
    .action(async (name: string, replicas: number, opts: { checkVersion?: number }, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const result = await ctx.client().scaleJob(ctx.namespace, name, { replicas, ...(opts.checkVersion !== undefined ? { version: opts.checkVersion } : {}) });
      if (ctx.output === "json") return ctx.json(result);
      if (!result.scaled) return ctx.out(`job ${result.job.id} already has ${replicas} replica${replicas === 1 ? "" : "s"}`);
      const lines = [`job ${result.job.id} scaled from ${result.scaled.from} to ${result.scaled.to} (version ${result.job.version})`];
      for (const u of result.evaluation?.unplaced ?? []) lines.push(`  slot ${u.slot} not placed: ${u.reason}`);
      ctx.out(lines.join("\n"));
    });
}
