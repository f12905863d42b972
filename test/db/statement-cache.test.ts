// Prepared statements kept per connection must give the answers fresh ones would: with other arguments,
// after an error, across a schema change, and under concurrent calls through the client.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@libsql/client";
import Database from "libsql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../db/client";
import { cachedStatements, cachePreparedStatements, STATEMENTS_PER_CONNECTION } from "../../db/statement-cache";

let dir: string;
let client: Client;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-stmt-"));
  client = await openDatabase({ dataDir: dir });
  await client.execute("CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)");
});

afterAll(() => {
  client.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("prepared statements kept per connection", () => {
  it("hands back the statement prepared for the same text, and keeps at most the bound", () => {
    cachePreparedStatements();
    const db = new Database(join(dir, "direct.db"));
    try {
      const first = db.prepare("SELECT 1 AS one");
      expect(db.prepare("SELECT 1 AS one")).toBe(first);
      expect(db.prepare("SELECT 2 AS two")).not.toBe(first);
      for (let i = 0; i < STATEMENTS_PER_CONNECTION + 10; i++) db.prepare(`SELECT ${i} AS n`);
      expect(cachedStatements(db)).toBe(STATEMENTS_PER_CONNECTION);
      // The oldest went first.
      expect(db.prepare("SELECT 1 AS one")).not.toBe(first);
    } finally {
      db.close();
    }
    expect(cachedStatements(db)).toBe(0);
  });

  it("remembers that a statement returns no rows, and still runs it and reports what it changed", async () => {
    const db = new Database(join(dir, "raw.db"));
    try {
      db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY)");
      const insert = db.prepare("INSERT INTO t (k) VALUES (?)") as { raw(on?: boolean): unknown; run(args: unknown[]): { changes: number } };
      const refusal = (): unknown => {
        try {
          insert.raw(true);
        } catch (err) {
          return err;
        }
        return null;
      };
      const first = refusal();
      expect(first).toBeInstanceOf(Error);
      expect(refusal()).toBe(first);
      expect(insert.run([1]).changes).toBe(1);
      const select = db.prepare("SELECT k FROM t") as { raw(on?: boolean): unknown };
      expect(() => select.raw(true)).not.toThrow();
    } finally {
      db.close();
    }
    await client.execute("CREATE TABLE counted (k INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0)");
    for (const k of [1, 2, 3]) await client.execute({ sql: "INSERT INTO counted (k) VALUES (?)", args: [k] });
    const written = await Promise.all([1, 2, 3].map((k) => client.execute({ sql: "UPDATE counted SET n = n + 1 WHERE k <= ?", args: [k] })));
    expect(written.map((r) => r.rowsAffected)).toEqual([1, 2, 3]);
    const sums = await client.execute("SELECT sum(n) AS n FROM counted");
    expect(Number(sums.rows[0]?.["n"])).toBe(6);
  });

  it("answers each of many concurrent calls of one statement with its own arguments", async () => {
    await client.batch(Array.from({ length: 200 }, (_, k) => ({ sql: "INSERT INTO kv (k, v) VALUES (?, ?)", args: [k, `v${k}`] })), "write");
    const reads = await Promise.all(Array.from({ length: 200 }, (_, k) => client.execute({ sql: "SELECT v FROM kv WHERE k = ?", args: [k] })));
    expect(reads.map((r) => r.rows[0]?.["v"])).toEqual(Array.from({ length: 200 }, (_, k) => `v${k}`));
    const ranges = await Promise.all([5, 150, 190].map((from) => client.execute({ sql: "SELECT k FROM kv WHERE k >= ? ORDER BY k LIMIT 3", args: [from] })));
    expect(ranges.map((r) => r.rows.map((row) => Number(row["k"])))).toEqual([
      [5, 6, 7],
      [150, 151, 152],
      [190, 191, 192],
    ]);
  });

  it("works again after a statement failed, and its batch changed nothing", async () => {
    const insert = "INSERT INTO kv (k, v) VALUES (?, ?)";
    await expect(client.batch([{ sql: insert, args: [1000, "a"] }, { sql: insert, args: [1, "duplicate"] }], "write")).rejects.toThrow(/UNIQUE|PRIMARY KEY/);
    await client.execute({ sql: insert, args: [1001, "b"] });
    const rows = await client.execute("SELECT k, v FROM kv WHERE k IN (1, 1000, 1001) ORDER BY k");
    expect(rows.rows.map((r) => [Number(r["k"]), r["v"]])).toEqual([
      [1, "v1"],
      [1001, "b"],
    ]);
  });

  it("keeps neither statements whose columns follow the schema nor any across DDL on the connection", () => {
    const db = new Database(join(dir, "ddl.db"));
    try {
      db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY)");
      expect(db.prepare("SELECT * FROM t")).not.toBe(db.prepare("SELECT * FROM t"));
      const counted = db.prepare("SELECT count(*) AS n FROM t");
      expect(db.prepare("SELECT count(*) AS n FROM t")).toBe(counted);
      db.prepare("ALTER TABLE t ADD COLUMN v TEXT").run();
      expect(cachedStatements(db)).toBe(0);
      expect(db.prepare("SELECT count(*) AS n FROM t")).not.toBe(counted);
    } finally {
      db.close();
    }
  });

  it("sees a schema change through a statement prepared before it", async () => {
    const select = "SELECT * FROM kv WHERE k = 2";
    expect((await client.execute(select)).columns).toEqual(["k", "v"]);
    await client.execute("ALTER TABLE kv ADD COLUMN note TEXT DEFAULT 'n'");
    const after = await client.execute(select);
    expect(after.columns).toEqual(["k", "v", "note"]);
    expect(after.rows[0]?.["note"]).toBe("n");
  });
});
