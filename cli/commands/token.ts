// leasehold token create --admin: mint an admin token from the control plane's data dir, for an operator
// who holds the dir but no working token (the bootstrap token was lost, or never shown).
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { commandContext } from "../context";
import { CliError, type CliIo } from "../io";

interface TokenCreateOptions {
  admin?: boolean;
  dataDir?: string;
  subject: string;
  ttl?: string;
}

/** Who the audit trail names: the local account that holds the data dir. */
function localActor(): string {
  try {
    return `data-dir:${userInfo().username}`;
  } catch {
    return `data-dir:uid-${process.getuid?.() ?? "unknown"}`;
  }
}

export function registerToken(program: Command, io: CliIo): void {
  const token = program.command("token").description("operator tokens");
  token
    .command("create")
    .description("mint an admin token with the data dir's signing key and record it in LIBSQL_URL (with LIBSQL_AUTH_TOKEN) or the dir's embedded database")
    .option("--admin", "grant admin on every namespace (the only kind minted from the data dir)")
    .option("--data-dir <dir>", "the control plane's data directory, which holds its signing key (env LEASEHOLD_DATA_DIR)")
    .option("--subject <name>", "who the token is for", "admin")
    .option("--ttl <duration>", "lifetime (default LEASEHOLD_TOKEN_TTL, else 720h)")
    .action(async (opts: TokenCreateOptions, cmd: Command) => {
      if (!opts.admin) throw new CliError("only admin tokens are minted from the data dir: pass --admin (issue others through the API with an admin token)");
      const ctx = commandContext(cmd, io);
      const dataDir = resolve(opts.dataDir ?? (io.env["LEASEHOLD_DATA_DIR"] || ".data"));
      const url = io.env["LIBSQL_URL"] || undefined;
      // Like db migrate, this works on the data dir itself, not through the API. Imported lazily so that
      // every other command starts without loading the database driver.
      const [{ databaseFile, databaseUrl, openDatabase }, { createStore }, { configFromEnv }, { issueDataDirAdminToken }, { KEY_FILE, loadSigningKey }, { parseDuration }, { systemClock }] =
        await Promise.all([
          import("../../db/client"),
          import("../../db/store"),
          import("../../worker/config"),
          import("../../worker/bootstrap"),
          import("../../worker/node-keys"),
          import("../../api/duration"),
          import("../../worker/clock"),
        ]);
      const ttlMs = opts.ttl === undefined ? configFromEnv(io.env).tokenTtl : parseDuration(opts.ttl);
      if (ttlMs === null || ttlMs < 60_000) throw new CliError(`--ttl ${opts.ttl}: must be a duration of at least 1m, such as 24h`);
      const warn = (message: string) => ctx.note(`warning: ${message}`);

      const keys = await loadSigningKey(dataDir, warn);
      if (!keys) throw new CliError(`no signing key in ${dataDir} (${KEY_FILE}): is it the control plane's data dir? (--data-dir or LEASEHOLD_DATA_DIR)`);
      const where = databaseUrl({ url, dataDir });
      const file = databaseFile(where);
      // Opening a missing file would create an empty database; the token must go where the server reads it.
      if (file && !existsSync(file)) throw new CliError(`no database at ${where}: start the control plane once, or set LIBSQL_URL to its database`);
      let client;
      try {
        client = await openDatabase({ url, authToken: io.env["LIBSQL_AUTH_TOKEN"] || undefined, dataDir, warn });
      } catch (cause) {
        throw new CliError(`cannot open the database at ${where}: ${(cause as Error).message}`, [], { cause });
      }
      let issued;
      try {
        issued = await issueDataDirAdminToken(createStore(client), keys, systemClock, { subject: opts.subject, ttlMs, actor: localActor() });
      } catch (cause) {
        throw new CliError(`recording the token in ${where} failed: ${(cause as Error).message}`, [], { cause });
      } finally {
        client.close();
      }
      const { token: minted, row } = issued;
      if (ctx.output === "json") return ctx.json({ token: minted, info: row });
      // The token alone on stdout, so `export LEASEHOLD_TOKEN=$(leasehold token create --admin)` works.
      ctx.out(minted);
      ctx.note(`admin token ${row.id} for ${row.subject}, valid until ${new Date(row.expiresAt).toISOString()} (shown once; signed with ${join(dataDir, KEY_FILE)})`);
    });
}
