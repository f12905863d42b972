// leasehold stop JOB: stop a job's tasks; its versions are kept.
import type { Command } from "commander";
import { commandContext } from "../context";
import type { CliIo } from "../io";

export function registerStop(program: Command, io: CliIo): void {
  program
    .command("stop")
    .description("stop a job (its tasks stop; its versions are kept)")
    .argument("<job>", "job name")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const result = await ctx.client().stopJob(ctx.namespace, name);
      if (ctx.output === "json") return ctx.json(result);
      if (!result.evaluation) return ctx.out(`job ${result.job.id} was already stopped`);
      const stopping = result.evaluation.stopped ?? 0;
      ctx.out(`job ${result.job.id} stopped${stopping > 0 ? `: ${stopping} task${stopping === 1 ? "" : "s"} stopping` : ""}`);
    });
}
