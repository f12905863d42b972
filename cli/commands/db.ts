// leasehold db migrate: apply the migrations to the control plane's database.
import { resolve } from "node:path";
import type { Command } from "commander";
import { CliError, type CliIo } from "../io";

export function registerDb(program: Command, io: CliIo): void {
  const db = program.command("db").description("control plane database");
  db.command("migrate")
    .description("apply the migrations to LIBSQL_URL (with LIBSQL_AUTH_TOKEN), or to the embedded file in --data-dir")
    .option("--data-dir <dir>", "directory of the embedded database (env LEASEHOLD_DATA_DIR)")
    .action(async (opts: { dataDir?: string }) => {
      const url = io.env["LIBSQL_URL"] || undefined;
      const dataDir = resolve(opts.dataDir ?? (io.env["LEASEHOLD_DATA_DIR"] || ".data"));
      // The one place the CLI touches db/: migrating is done to the database itself, not through the API.
      // Imported lazily so that every other command starts without loading the database driver.
      const { databaseUrl, openDatabase } = await import("../../db/client");
      const { migrateDatabase } = await import("../../db/migrate");
      const where = databaseUrl({ url, dataDir });
      let client;
      try {
        client = await openDatabase({ url, authToken: io.env["LIBSQL_AUTH_TOKEN"] || undefined, dataDir });
      } catch (cause) {
        throw new CliError(`cannot open the database at ${where}: ${(cause as Error).message}`, [], { cause });
      }
      try {
        await migrateDatabase(client);
      } catch (cause) {
        throw new CliError(`migrating ${where} failed: ${(cause as Error).message}`, [], { cause });
      } finally {
        client.close();
      }
      io.stdout.write(`database migrated: ${where}\n`);
    });
}
