// Applies the committed drizzle-kit migrations (Node only: they are read from disk).
import { fileURLToPath } from "node:url";
import type { Client } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";

export const MIGRATIONS_FOLDER = fileURLToPath(new URL("./migrations", import.meta.url));

/**
 * Several instances may start at once against one database. Each migration runs in one transaction,
 * so when two race, the loser's transaction fails whole ("table already exists"); by then the winner
 * has recorded it, and running again finds nothing left to do.
 */
export async function migrateDatabase(client: Client, attempts = 5): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_FOLDER });
      return;
    } catch (err) {
      if (attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt + Math.random() * 100));
    }
  }
}
