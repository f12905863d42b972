// Builds the libSQL client from LIBSQL_URL / LIBSQL_AUTH_TOKEN (Node): an embedded file by default.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createClient, type Client } from "@libsql/client";
import { cachePreparedStatements } from "./statement-cache";

/** How long a local connection waits on a locked file before SQLITE_BUSY. Without it, @libsql/client drops writes. */
export const BUSY_TIMEOUT_MS = 10_000;

export interface DatabaseConfig {
  url?: string | undefined;
  authToken?: string | undefined;
  dataDir: string;
}

export function databaseUrl(config: DatabaseConfig): string {
  return config.url && config.url.length > 0 ? config.url : `file:${resolve(config.dataDir, "leasehold.db")}`;
}

/**
 * Opens the database. For a local file it sets a busy timeout on every connection the client opens
 * and switches the file to WAL, so several processes can share it without losing acknowledged writes.
 */
export async function openDatabase(config: DatabaseConfig): Promise<Client> {
  const url = databaseUrl(config);
  const isFile = url.startsWith("file:");
  if (isFile) {
    mkdirSync(dirname(url.slice("file:".length)), { recursive: true });
    cachePreparedStatements();
  }
  const client = createClient({
    url,
    ...(config.authToken ? { authToken: config.authToken } : {}),
    // One connection for a file: the embedded engine runs every statement synchronously, so more give no
    // parallelism, and the pool would open them without the pragmas below (concurrent calls each borrow one).
    ...(isFile ? { timeout: BUSY_TIMEOUT_MS, concurrency: 1 } : {}),
  });
  if (isFile) {
    // journal_mode is stored in the file; synchronous is per connection and NORMAL is safe under WAL.
    await client.execute("PRAGMA journal_mode = WAL");
    await client.execute("PRAGMA synchronous = NORMAL");
    await client.execute("PRAGMA foreign_keys = ON");
    // Checkpoint every ~40 MiB of WAL instead of ~4 MiB: heartbeats rewrite the same hot pages (nodes,
    // the lease-expiry index), and a longer WAL copies each of them back once instead of many times.
    await client.execute("PRAGMA wal_autocheckpoint = 10000");
  }
  return client;
}
