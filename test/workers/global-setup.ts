// Vitest globalSetup for the workers project (runs in Node): serves temp libSQL files over Hrana HTTP.
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
    /** A second, freshly migrated database that nothing bootstraps: for the POST /v1/bootstrap tests. */
    freshLibsqlUrl: string;
    /** A third migrated database that only secrets.test.ts uses: once it holds a secret, a Worker without the key refuses it. */
    secretsLibsqlUrl: string;
    /** A fourth migrated database that only metrics.test.ts uses: its gauges count only what it seeds. */
    metricsLibsqlUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), "leasehold-workers-"));
  const server = await startHranaServer({ path: join(dir, "workers.db") });
  const fresh = await startHranaServer({ path: join(dir, "fresh.db") });
  const secrets = await startHranaServer({ path: join(dir, "secrets.db") });
  const metrics = await startHranaServer({ path: join(dir, "metrics.db") });
  // Migrations run from Node, as `leasehold db migrate` would against Turso/sqld: the Worker never migrates.
  for (const url of [server.url, fresh.url, secrets.url, metrics.url]) {
    const client = createClient({ url });
    await migrateDatabase(client);
    client.close();
  }
  project.provide("libsqlUrl", server.url);
  project.provide("freshLibsqlUrl", fresh.url);
  project.provide("secretsLibsqlUrl", secrets.url);
  project.provide("metricsLibsqlUrl", metrics.url);
  return async () => {
    await server.close();
    await fresh.close();
    await secrets.close();
    await metrics.close();
    rmSync(dir, { recursive: true, force: true });
  };
}
