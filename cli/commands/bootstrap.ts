// leasehold bootstrap: the first admin token of a Workers control plane, from its bootstrap secret, once.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { ApiError, ControlPlaneClient } from "../client";
import { cliConfigPath, writeCliConfig } from "../config";
import { commandContext, type GlobalOptions } from "../context";
import { CliError, type CliIo } from "../io";

interface BootstrapOptions {
  server?: string;
  secretFile?: string;
  save?: boolean;
}

export function registerBootstrap(program: Command, io: CliIo): void {
  program
    .command("bootstrap")
    .description("get the first admin token of a control plane on Workers (POST /v1/bootstrap); works once")
    .option("--server <url>", "control plane URL (default: --addr or LEASEHOLD_ADDR)")
    .option("--secret-file <path>", "file holding the bootstrap secret (default: env LEASEHOLD_BOOTSTRAP_SECRET)")
    .option("--save", "write the address and the token to the CLI config file instead of printing the token")
    .action(async (opts: BootstrapOptions, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const addr = serverUrl(opts.server || globals.addr || io.env["LEASEHOLD_ADDR"]);
      // Never an argument: the command line of a process is readable by every user of the host.
      const secret = readSecret(opts.secretFile, io.env);
      const client = new ControlPlaneClient({ addr, token: secret, fetch: io.fetch });
      let result: { token: string; namespace: string };
      try {
        result = await client.request("POST", "/v1/bootstrap");
      } catch (err) {
        throw explain(err, client.addr);
      }
      if (opts.save) {
        const path = writeCliConfig({ addr: client.addr, token: result.token }, cliConfigPath(io.env));
        return ctx.out(`admin token saved to ${path} (readable by you only); namespace "${result.namespace}" is ready`);
      }
      if (ctx.output === "json") return ctx.json({ addr: client.addr, token: result.token, namespace: result.namespace });
      ctx.out(`Admin token (shown once; keep it safe):\n\n  export LEASEHOLD_ADDR=${client.addr}\n  export LEASEHOLD_TOKEN=${result.token}\n`);
    });
}

function serverUrl(addr: string | undefined): string {
  if (!addr) throw new CliError("no control plane address: pass --server (or --addr), or set LEASEHOLD_ADDR");
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    throw new CliError(`control plane address "${addr}" is not a URL (e.g. https://leasehold.example.workers.dev)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`control plane address "${addr}" must be http:// or https://`);
  return addr;
}

function readSecret(file: string | undefined, env: CliIo["env"]): string {
  let secret: string | undefined;
  if (file) {
    try {
      secret = readFileSync(file, "utf8");
    } catch (cause) {
      throw new CliError(`cannot read the bootstrap secret from ${file}: ${(cause as Error).message}`, [], { cause });
    }
  } else {
    secret = env["LEASEHOLD_BOOTSTRAP_SECRET"];
  }
  secret = secret?.trim();
  if (!secret) throw new CliError(`no bootstrap secret: set LEASEHOLD_BOOTSTRAP_SECRET or pass --secret-file${file ? ` (${file} is empty)` : ""}`);
  return secret;
}

/** The control plane's answers, said for someone bootstrapping rather than someone holding a token. */
function explain(err: unknown, addr: string): unknown {
  if (!(err instanceof ApiError)) return err;
  if (err.status === 401) return new CliError(`the control plane at ${addr} refused the bootstrap secret: ${err.message}`, [], { cause: err });
  if (err.status === 404) return new CliError(`${addr} offers no bootstrap: ${err.message}`, [], { cause: err });
  if (err.status === 409) return new CliError(`${addr} has been bootstrapped already; an admin can issue you a token (POST /v1/tokens)`, [], { cause: err });
  return err;
}
