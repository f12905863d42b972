// Builds the libSQL client from LIBSQL_URL / LIBSQL_AUTH_TOKEN (Node): an embedded file by default.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createClient, type Client } from "@libsql/client";
import { ensurePrivateDir, ensurePrivateFile, PRIVATE_DIR_MODE, tightenPrivateFile, type TightenedWarning } from "../lib/private-files";
import { cachePreparedStatements } from "./statement-cache";

/** How long a local connection waits on a locked file before SQLITE_BUSY. Without it, @libsql/client drops writes. */
export const BUSY_TIMEOUT_MS = 10_000;

export interface DatabaseConfig {
  url?: string | undefined;
  authToken?: string | undefined;
  dataDir: string;
  /** Told when the data dir or a database file was readable by others and has been tightened (default: stderr). */
  warn?: TightenedWarning | undefined;
}

export function databaseUrl(config: DatabaseConfig): string {
  return config.url && config.url.length > 0 ? config.url : `file:${resolve(config.dataDir, "leasehold.db")}`;
}

/** The path of a local database file, or null for a remote database (or an in-memory one). */
export function databaseFile(url: string): string | null {
  if (!url.startsWith("file:")) return null;
  const path = url.slice("file:".length).split("?")[0] ?? "";
  return path === "" || path === ":memory:" ? null : path;
}

/**
 * Opens the database. For a local file it sets a busy timeout on every connection the client opens
 * and switches the file to WAL, so several processes can share it without losing acknowledged writes.
 *
 * A local file is owner-only (0600) before the engine opens it. SQLite creates the -wal and -shm files
 * (and a rollback journal) with the database file's own mode, whatever the umask, each time it recreates
 * them, so they stay 0600 too; ones left looser by an older version are tightened here.
 */
export async function openDatabase(config: DatabaseConfig): Promise<Client> {
  const url = databaseUrl(config);
  const file = databaseFile(url);
  const isFile = url.startsWith("file:");
  if (file) {
    const warn = config.warn ?? ((message: string) => console.error(`warning: ${message}`));
    // The data dir is ours to tighten; the directory of a file named by LIBSQL_URL is only created if missing.
    if (!config.url) ensurePrivateDir(dirname(file), warn);
    else mkdirSync(dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
    ensurePrivateFile(file, warn);
    for (const suffix of ["-wal", "-shm", "-journal"]) tightenPrivateFile(file + suffix, warn);
  }
  if (isFile) cachePreparedStatements();
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
