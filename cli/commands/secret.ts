// leasehold secret put|list|versions|get|rm|rekey: a namespace's secrets. Values go to the control plane
// and come back only through `get`; nothing else here prints one, and put sends a file's or stdin's bytes
// exactly as read (base64 on the wire, so binary values survive).
import { readFile } from "node:fs/promises";
import { Option, type Command } from "commander";
import type { SecretPutResponse, SecretRotation } from "../api-types";
import { commandContext, type CommandContext } from "../context";
import { shortDeploymentId } from "../deployment-progress";
import { formatAge, formatTable } from "../format";
import { CliError, type CliIo, type Readable } from "../io";
import { intOption } from "../options";

interface PutOptions {
  fromFile?: string;
  fromLiteral?: string;
  rollout: boolean;
  json?: boolean;
}

const JSON_HELP = "print the API's answer (as -o json)";

const LITERAL_WARNING =
  "warning: --from-literal leaves the value in your shell history (and in the process list while this runs); prefer --from-file or stdin";

export function registerSecret(program: Command, io: CliIo): void {
  const secret = program.command("secret").description("store, list, read and delete a namespace's secrets (values encrypted at rest)");

  secret
    .command("put")
    .description("store a new version of a secret and roll it out to the running jobs that follow its latest")
    .argument("<name>", "secret name")
    .addOption(new Option("--from-file <path>", "the value is this file's bytes, exactly").conflicts("fromLiteral"))
    .addOption(new Option("--from-literal <value>", "the value is this text (it stays in your shell history)"))
    .option("--no-rollout", "store the version only: the jobs that follow the secret take it at their next apply")
    .option("--json", JSON_HELP)
    .addHelpText("after", "\nWithout --from-file or --from-literal the value is read from stdin, byte for byte (echo adds a newline; printf does not).\n")
    .action(async (name: string, opts: PutOptions, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const value = await readValue(ctx, opts);
      const result = await ctx.client().putSecret(ctx.namespace, name, { ...value, rollout: opts.rollout });
      if (opts.json || ctx.output === "json") return ctx.json(result);
      ctx.out(describePut(result, ctx.namespace));
    });

  secret
    .command("list")
    .description("list the namespace's secrets: versions, sizes and the running jobs using them, never values")
    .option("--json", JSON_HELP)
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const list = await ctx.client().listSecrets(ctx.namespace);
      if (opts.json || ctx.output === "json") return ctx.json(list);
      if (list.secrets.length === 0) return ctx.out(`no secrets in namespace ${ctx.namespace}`);
      const now = Date.now();
      const rows = list.secrets.map((s) => [s.name, String(s.latest), String(s.versions), String(s.bytes), `${formatAge(s.updatedAt, now)} ago`, usedBy(s.usedBy)]);
      ctx.out(formatTable(["NAME", "LATEST", "VERSIONS", "BYTES", "UPDATED", "USED BY"], rows));
    });

  secret
    .command("versions")
    .description("list a secret's versions, newest first (metadata only)")
    .argument("<name>", "secret name")
    .option("--json", JSON_HELP)
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const result = await ctx.client().secretVersions(ctx.namespace, name);
      if (opts.json || ctx.output === "json") return ctx.json(result);
      const now = Date.now();
      const rows = result.versions.map((v) => [String(v.version), String(v.bytes), v.keyId, v.rollout ? "yes" : "no", v.createdBy, formatAge(v.createdAt, now)]);
      ctx.out(formatTable(["VERSION", "BYTES", "KEY", "ROLLOUT", "BY", "AGE"], rows) + (result.usedBy.length === 0 ? "used by no running job" : `used by: ${result.usedBy.join(", ")}`));
    });

  secret
    .command("get")
    .description("write a secret's value to stdout, byte for byte (admins, or a token with the secret-values permission; audited)")
    .argument("<name>", "secret name")
    .addOption(new Option("--version <n>", "this version (default: the newest)").argParser(intOption(1, Number.MAX_SAFE_INTEGER)))
    .option("--json", "print the API's answer, the value in base64 (as -o json)")
    .action(async (name: string, opts: { version?: number; json?: boolean }, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const result = await ctx.client().secretValue(ctx.namespace, name, opts.version);
      if (opts.json || ctx.output === "json") return ctx.json(result);
      // Raw, with no newline added: `leasehold secret get NAME > file` gives back what was put.
      io.stdout.write(Buffer.from(result.value, "base64"));
    });

  secret
    .command("rm")
    .description("delete a secret and all its versions (refused while a running job uses it)")
    .argument("<name>", "secret name")
    .option("--json", JSON_HELP)
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const result = await ctx.client().deleteSecret(ctx.namespace, name);
      if (opts.json || ctx.output === "json") return ctx.json(result);
      ctx.out(`secret ${ctx.namespace}/${result.deleted} deleted (${plural(result.versions, "version")})`);
    });

  secret
    .command("rekey")
    .description("re-encrypt every stored value under the control plane's first secrets key (fleet admin)")
    .option("--json", JSON_HELP)
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const result = await ctx.client().rekeySecrets();
      if (opts.json || ctx.output === "json") return ctx.json(result);
      ctx.out(
        `re-encrypted ${result.rekeyed} of ${plural(result.total, "stored value")} under key ${result.keyId}; ` +
          "keys after the first in LEASEHOLD_SECRETS_KEY can now be removed",
      );
    });
}

/** The value to send: a file's or stdin's bytes as base64, a literal as text. */
async function readValue(ctx: CommandContext, opts: PutOptions): Promise<{ value: string; encoding: "utf8" | "base64" }> {
  if (opts.fromLiteral !== undefined) {
    ctx.note(LITERAL_WARNING);
    return { value: opts.fromLiteral, encoding: "utf8" };
  }
  if (opts.fromFile !== undefined) {
    try {
      return { value: (await readFile(opts.fromFile)).toString("base64"), encoding: "base64" };
    } catch (err) {
      throw new CliError(`cannot read ${opts.fromFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, [], { cause: err });
    }
  }
  return { value: (await readAll(ctx.io.stdin)).toString("base64"), encoding: "base64" };
}

async function readAll(stdin: Readable): Promise<Buffer> {
  // A terminal would wait for typing that nobody meant to do, and echo the value as it came.
  if (stdin.isTTY) throw new CliError("no value given: pass --from-file PATH or --from-literal VALUE, or pipe it in (leasehold secret put NAME < file)");
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function describePut(r: SecretPutResponse, namespace: string): string {
  const lines = [`secret ${r.namespace}/${r.name} version ${r.version.version} stored (${plural(r.version.bytes, "byte")})`];
  if (!r.version.rollout) {
    lines.push("not rolled out (--no-rollout): jobs that follow its latest take it at their next apply");
    return lines.join("\n");
  }
  if (r.rollouts.length === 0) {
    lines.push("no running job follows its latest: nothing to roll out");
    return lines.join("\n");
  }
  lines.push(`rolling out to ${plural(r.rollouts.length, "job")}:`);
  for (const rotation of r.rollouts) lines.push(`  ${rotationLine(rotation, namespace)}`);
  const flag = namespace === "default" ? "" : ` -n ${namespace}`;
  for (const rotation of r.rollouts) {
    if (rotation.deploymentId !== undefined) lines.push(`follow with: leasehold rollout status ${jobName(rotation.job, namespace)}${flag}`);
  }
  return lines.join("\n");
}

function rotationLine(r: SecretRotation, namespace: string): string {
  const job = jobName(r.job, namespace);
  if (r.version === null) return `${job}: not rolled, it changed meanwhile (its newest version decides which version it takes)`;
  return `${job}: version ${r.version}${r.deploymentId === undefined ? "" : `, deployment ${shortDeploymentId(r.deploymentId)}`}`;
}

/** Rollouts name the job by its id, `namespace/name`; the namespace is the secret's own. */
const jobName = (jobId: string, namespace: string) => (jobId.startsWith(`${namespace}/`) ? jobId.slice(namespace.length + 1) : jobId);

const usedBy = (jobs: string[]) => (jobs.length === 0 ? "-" : jobs.join(", "));

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;
