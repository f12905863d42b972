// openDatabase's settings (foreign keys, synchronous = NORMAL) must hold for every call, including calls
// made concurrently: a pool that opens a fresh connection per concurrent call would open it without them.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@libsql/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../db/client";
import { writeBatch } from "../../db/batch";
import { migrateDatabase } from "../../db/migrate";

let dir: string;
let client: Client;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-conn-"));
  client = await openDatabase({ dataDir: dir });
  await migrateDatabase(client);
});

afterAll(() => {
  client.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("connection settings under concurrent calls", () => {
  it("refuses every concurrent write that breaks a foreign key", async () => {
    const now = Date.now();
    const attempts = Array.from({ length: 24 }, (_, i) =>
      writeBatch(client, [
        {
          sql: `INSERT INTO jobs (id, namespace, name, type, status, version, spec_hash, created_at, updated_at)
                VALUES (?, 'no-such-namespace', ?, 'service', 'running', 1, 'h', ?, ?)`,
          args: [`no-such-namespace/j${i}`, `j${i}`, now, now],
        },
      ]).then(
        () => "written",
        (err: unknown) => (/FOREIGN KEY/i.test(err instanceof Error ? err.message : String(err)) ? "refused" : String(err)),
      ),
    );
    const outcomes = await Promise.all(attempts);
    expect(outcomes.filter((o) => o !== "refused")).toEqual([]);
    const stored = await client.execute("SELECT count(*) AS n FROM jobs WHERE namespace = 'no-such-namespace'");
    expect(Number(stored.rows[0]?.["n"])).toBe(0);
  });

  it("keeps synchronous = NORMAL and foreign keys on after concurrent calls", async () => {
    const reads = await Promise.all(Array.from({ length: 16 }, () => client.execute("PRAGMA synchronous")));
    expect(reads.map((r) => Number(r.rows[0]?.["synchronous"]))).toEqual(Array(16).fill(1));
    const fk = await Promise.all(Array.from({ length: 16 }, () => client.execute("PRAGMA foreign_keys")));
    expect(fk.map((r) => Number(r.rows[0]?.["foreign_keys"]))).toEqual(Array(16).fill(1));
  });
});
