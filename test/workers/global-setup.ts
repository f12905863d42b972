// Vitest globalSetup for the workers project (runs in Node): serves a temp libSQL file over Hrana HTTP.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { createClient } from "@libsql/client";
import { migrateDatabase } from "../../db/migrate.ts";
import { startHranaServer } from "../hrana/server.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the test Hrana server, e.g. http://127.0.0.1:40123 */
    libsqlUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-workers-"));
  const server = await startHranaServer({ path: join(dir, "workers.db") });
  // Migrations run from Node, as `leasehold db migrate` would against Turso/sqld: the Worker never migrates.
  const client = createClient({ url: server.url });
  await migrateDatabase(client);
  client.close();
  project.provide("libsqlUrl", server.url);
  return async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  };
}
