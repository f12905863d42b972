// leasehold rollout status JOB: follows the job's latest deployment until it ends, and exits with how it
// ended (0 successful, 3 failed or reverted, 5 cancelled, 2 no room, 4 out of time).
import { Option, type Command } from "commander";
import { commandContext } from "../context";
import { shortDeploymentId, versionsOf } from "../deployment-progress";
import { EXIT_CODES_HELP } from "../exit-codes";
import { followDeployment } from "../follow-deployment";
import { CliError, type CliIo } from "../io";
import { wantsColor } from "../live-display";
import { durationOption } from "../options";
import { resolveDeployment } from "./deployment";

export function registerRollout(program: Command, io: CliIo): void {
  const rollout = program.command("rollout").description("follow a job's rollout");
  rollout
    .command("status")
    .description("follow the job's latest deployment until it ends: live on a terminal, a line per change elsewhere")
    .argument("<job>", "job name (or a deployment id)")
    .addOption(new Option("--timeout <duration>", "how long to follow it").argParser(durationOption).default(600_000, "10m"))
    .addHelpText("after", EXIT_CODES_HELP)
    .action(async (ref: string, opts: { timeout: number }, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const client = ctx.client();
      const first = await resolveDeployment(client, ctx.namespace, ref);
      const subject = `deployment ${shortDeploymentId(first.id)} of ${first.jobId}`;
      // With -o json stdout is the deployment as it ended; the progress goes to stderr.
      const out = ctx.output === "json" ? io.stderr : io.stdout;
      try {
        const { detail, seconds } = await followDeployment(client, {
          namespace: ctx.namespace,
          deployment: first,
          timeoutMs: opts.timeout,
          subject,
          out,
          view: { header: `${subject}: version ${versionsOf(first)}`, linePrefix: "  ", color: wantsColor(out, io.env) },
        });
        if (ctx.output === "json") ctx.json(detail);
        else ctx.out(`${subject} successful: ${detail.description} (${seconds}s)`);
      } catch (err) {
        if (err instanceof CliError && ctx.output === "json") ctx.json(await client.getDeployment(ctx.namespace, first.id).catch(() => null));
        throw err;
      }
    });
}
