// Exercises the test Hrana server through @libsql/client (node and web entry points), drizzle-orm and raw HTTP.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, LibsqlError } from "@libsql/client";
import type { Client } from "@libsql/client";
import { createClient as createWebClient } from "@libsql/client/web";
import { drizzle } from "drizzle-orm/libsql";
import { sql } from "drizzle-orm";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { startHranaServer } from "./server.ts";
import { scanSql } from "./sql-scan.ts";
import type { HranaServer } from "./server.ts";

let dir: string;
let server: HranaServer;
let client: Client;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hrana-test-"));
  server = await startHranaServer({ path: join(dir, "test.db"), streamIdleTimeoutMs: 800, busyTimeoutMs: 3000 });
  client = createClient({ url: server.url });
});

afterAll(async () => {
  client?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function pipeline(version: "v2" | "v3", body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const resp = await fetch(`${server.url}/${version}/pipeline`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: resp.status, json: (await resp.json()) as Record<string, unknown> };
}

describe("hrana server via @libsql/client", () => {
  it("executes with positional and named args", async () => {
    await client.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER)");
    const ins = await client.execute({ sql: "INSERT INTO people (name, age) VALUES (?, ?)", args: ["ada", 36] });
    expect(ins.rowsAffected).toBe(1);
    expect(ins.lastInsertRowid).toBe(1n);
    await client.execute({ sql: "INSERT INTO people (name, age) VALUES (:name, @age)", args: { name: "bob", age: 41 } });
    await client.execute({ sql: "INSERT INTO people (name, age) VALUES ($name, :age)", args: { $name: "cy", ":age": 7 } });
    await client.execute({ sql: "INSERT INTO people (name, age) VALUES (?2, ?1)", args: [52, "dee"] });

    const rs = await client.execute({ sql: "SELECT id, name, age FROM people WHERE age > ? ORDER BY id", args: [10] });
    expect(rs.columns).toEqual(["id", "name", "age"]);
    expect(rs.columnTypes).toEqual(["INTEGER", "TEXT", "INTEGER"]);
    expect(rs.rows.map((r) => [r["name"], r["age"]])).toEqual([
      ["ada", 36],
      ["bob", 41],
      ["dee", 52],
    ]);
    expect(rs.rowsAffected).toBe(0);

    const named = await client.execute({ sql: "SELECT :a AS a, :a || :b AS ab", args: { a: "x", b: "y" } });
    expect(named.rows[0]?.["ab"]).toBe("xy");

    const missing = await client.execute({ sql: "SELECT ?, ?", args: [1] }).catch((e: unknown) => e);
    expect((missing as LibsqlError).code).toBe("ARGS_INVALID");
    const tooMany = await client.execute({ sql: "SELECT ?", args: [1, 2] }).catch((e: unknown) => e);
    expect((tooMany as LibsqlError).code).toBe("ARGS_INVALID");
    const unknownName = await client.execute({ sql: "SELECT :a", args: { b: 1 } }).catch((e: unknown) => e);
    expect((unknownName as LibsqlError).code).toBe("ARGS_INVALID");
    // Literals, quoted identifiers and comments do not create parameters.
    const literal = await client.execute({ sql: "SELECT '?:x' AS \"@y\", ? AS v -- :z ?", args: [5] });
    expect(literal.rows[0]?.["@y"]).toBe("?:x");
    expect(literal.rows[0]?.["v"]).toBe(5);
  });

  it("reports rows affected for updates, deletes and RETURNING, and 0 for DDL", async () => {
    await client.execute("CREATE TABLE counters (k TEXT PRIMARY KEY, v INTEGER NOT NULL)");
    const ddl = await client.execute("CREATE INDEX counters_v ON counters (v)");
    expect(ddl.rowsAffected).toBe(0);
    await client.execute("INSERT INTO counters (k, v) VALUES ('a', 1), ('b', 2), ('c', 3)");
    expect((await client.execute("UPDATE counters SET v = v + 10 WHERE v >= 2")).rowsAffected).toBe(2);
    expect((await client.execute("UPDATE counters SET v = 0 WHERE k = 'zzz'")).rowsAffected).toBe(0);
    const ret = await client.execute("DELETE FROM counters WHERE v > 10 RETURNING k");
    expect(ret.rowsAffected).toBe(2);
    expect(ret.rows.map((r) => r["k"]).sort()).toEqual(["b", "c"]);
    expect((await client.execute("SELECT * FROM counters")).rowsAffected).toBe(0);
  });

  it("round-trips blobs, integers, floats, text and nulls", async () => {
    const big = createClient({ url: server.url, intMode: "bigint" });
    try {
      await big.execute("CREATE TABLE vals (i INTEGER, f REAL, t TEXT, b BLOB, n TEXT)");
      const blob = new Uint8Array([0, 1, 2, 250, 255]);
      await big.execute({
        sql: "INSERT INTO vals VALUES (?, ?, ?, ?, ?)",
        args: [9007199254740993n, 1.25, "héllo ☃", blob, null],
      });
      const rs = await big.execute("SELECT i, f, t, b, n, typeof(i) AS ti, typeof(b) AS tb FROM vals");
      const row = rs.rows[0];
      expect(row?.["i"]).toBe(9007199254740993n);
      expect(row?.["f"]).toBe(1.25);
      expect(row?.["t"]).toBe("héllo ☃");
      expect(new Uint8Array(row?.["b"] as ArrayBuffer)).toEqual(blob);
      expect(row?.["n"]).toBeNull();
      expect(row?.["ti"]).toBe("integer");
      expect(row?.["tb"]).toBe("blob");
      const max = await big.execute("SELECT 9223372036854775807 AS m, -9223372036854775808 AS mn");
      expect(max.rows[0]?.["m"]).toBe(9223372036854775807n);
      expect(max.rows[0]?.["mn"]).toBe(-9223372036854775808n);
    } finally {
      big.close();
    }
  });

  it("rolls back a batch whose step fails and reports the constraint code", async () => {
    await client.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL UNIQUE)");
    await client.execute("INSERT INTO accounts (owner) VALUES ('alice')");
    const err = await client
      .batch(
        [
          { sql: "INSERT INTO accounts (owner) VALUES (?)", args: ["bob"] },
          { sql: "INSERT INTO accounts (owner) VALUES (?)", args: ["alice"] },
        ],
        "write",
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibsqlError);
    expect((err as LibsqlError).code).toBe("SQLITE_CONSTRAINT");
    expect((err as LibsqlError).message).toContain("UNIQUE constraint failed");
    const rs = await client.execute("SELECT owner FROM accounts ORDER BY id");
    expect(rs.rows.map((r) => r["owner"])).toEqual(["alice"]);

    const okBatch = await client.batch(
      ["INSERT INTO accounts (owner) VALUES ('carol')", "SELECT count(*) AS n FROM accounts"],
      "write",
    );
    expect(okBatch[0]?.rowsAffected).toBe(1);
    expect(okBatch[1]?.rows[0]?.["n"]).toBe(2);
  });

  it("maps SQL errors to Hrana errors", async () => {
    const syntax = await client.execute("SELEC 1").catch((e: unknown) => e);
    expect((syntax as LibsqlError).code).toBe("SQLITE_ERROR");
    const many = await client.execute("SELECT 1; SELECT 2").catch((e: unknown) => e);
    expect((many as LibsqlError).code).toBe("SQL_MANY_STATEMENTS");
    const notNull = await client.execute("INSERT INTO accounts (owner) VALUES (NULL)").catch((e: unknown) => e);
    expect((notNull as LibsqlError).code).toBe("SQLITE_CONSTRAINT");
    // A trigger body contains semicolons but is one statement.
    await client.execute(
      "CREATE TRIGGER accounts_audit AFTER INSERT ON accounts BEGIN SELECT 1; SELECT 2; END",
    );
  });

  it("commits and rolls back interactive transactions", async () => {
    await client.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)");

    const tx = await client.transaction("write");
    await tx.execute({ sql: "INSERT INTO ledger (amount) VALUES (?)", args: [10] });
    const inside = await tx.execute("SELECT sum(amount) AS s FROM ledger");
    expect(inside.rows[0]?.["s"]).toBe(10);
    // Not visible to other streams before commit.
    expect((await client.execute("SELECT count(*) AS n FROM ledger")).rows[0]?.["n"]).toBe(0);
    await tx.execute({ sql: "INSERT INTO ledger (amount) VALUES (?)", args: [5] });
    await tx.commit();
    expect((await client.execute("SELECT sum(amount) AS s FROM ledger")).rows[0]?.["s"]).toBe(15);

    const tx2 = await client.transaction("write");
    await tx2.execute("INSERT INTO ledger (amount) VALUES (100)");
    await tx2.batch(["UPDATE ledger SET amount = amount * 2", "DELETE FROM ledger WHERE amount = 10"]);
    await tx2.rollback();
    expect((await client.execute("SELECT sum(amount) AS s FROM ledger")).rows[0]?.["s"]).toBe(15);

    const tx3 = await client.transaction("write");
    await tx3.executeMultiple("INSERT INTO ledger (amount) VALUES (1); INSERT INTO ledger (amount) VALUES (2);");
    await tx3.commit();
    expect((await client.execute("SELECT count(*) AS n FROM ledger")).rows[0]?.["n"]).toBe(4);
  });

  it("makes a concurrent writer wait for an open write transaction instead of failing", async () => {
    await client.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY, v TEXT)");
    const tx = await client.transaction("write");
    await tx.execute("INSERT INTO queue (v) VALUES ('first')");
    const other = createClient({ url: server.url });
    try {
      const pending = other.execute("INSERT INTO queue (v) VALUES ('second')");
      await new Promise((r) => setTimeout(r, 100));
      await tx.commit();
      expect((await pending).rowsAffected).toBe(1);
      const rs = await client.execute("SELECT v FROM queue ORDER BY id");
      expect(rs.rows.map((r) => r["v"])).toEqual(["first", "second"]);
    } finally {
      other.close();
    }
  });

  it("returns SQLITE_BUSY after the busy timeout without leaving the database locked", async () => {
    const quick = await startHranaServer({ path: join(dir, "busy.db"), busyTimeoutMs: 150 });
    const a = createClient({ url: quick.url });
    const b = createClient({ url: quick.url });
    try {
      await a.execute("CREATE TABLE t (v TEXT)");
      const tx = await a.transaction("write");
      await tx.execute("INSERT INTO t VALUES ('tx')");
      const err = await b.execute("INSERT INTO t VALUES ('blocked')").catch((e: unknown) => e);
      expect((err as LibsqlError).code).toBe("SQLITE_BUSY");
      await tx.commit();
      await b.execute("INSERT INTO t VALUES ('after')");
      await a.execute("INSERT INTO t VALUES ('again')");
      const rs = await a.execute("SELECT v FROM t ORDER BY rowid");
      expect(rs.rows.map((r) => r["v"])).toEqual(["tx", "after", "again"]);
    } finally {
      a.close();
      b.close();
      await quick.close();
    }
  });

  it("works with the web client and executeMultiple / migrate", async () => {
    const web = createWebClient({ url: server.url });
    try {
      await web.executeMultiple("CREATE TABLE web_t (x INTEGER); INSERT INTO web_t VALUES (1); INSERT INTO web_t VALUES (2);");
      await web.migrate(["CREATE TABLE web_u (y TEXT)", "INSERT INTO web_u VALUES ('m')"]);
      const rs = await web.execute("SELECT (SELECT sum(x) FROM web_t) AS s, (SELECT y FROM web_u) AS y");
      expect(rs.rows[0]?.["s"]).toBe(3);
      expect(rs.rows[0]?.["y"]).toBe("m");
    } finally {
      web.close();
    }
  });

  it("runs drizzle-orm queries", async () => {
    const db = drizzle(client);
    const jobs = sqliteTable("drizzle_jobs", {
      id: integer("id").primaryKey({ autoIncrement: true }),
      name: text("name").notNull(),
      spec: text("spec", { mode: "json" }).$type<{ image: string }>(),
    });
    await db.run(sql`CREATE TABLE drizzle_jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, spec TEXT)`);
    const inserted = await db.insert(jobs).values({ name: "web", spec: { image: "nginx" } }).returning();
    expect(inserted).toEqual([{ id: 1, name: "web", spec: { image: "nginx" } }]);
    await db.insert(jobs).values([{ name: "db" }, { name: "cache" }]);
    const rows = await db.select().from(jobs).where(sql`${jobs.name} != 'cache'`).orderBy(jobs.id);
    expect(rows.map((r) => r.name)).toEqual(["web", "db"]);
    await db.transaction(async (tx) => {
      await tx.update(jobs).set({ name: "web2" }).where(sql`${jobs.id} = 1`);
    });
    const all = await db.select({ name: jobs.name }).from(jobs).orderBy(jobs.id);
    expect(all.map((r) => r.name)).toEqual(["web2", "db", "cache"]);
    const batch = await db.batch([db.insert(jobs).values({ name: "b1" }), db.select().from(jobs)]);
    expect(batch[1]).toHaveLength(4);
  });
});

describe("sql scanner", () => {
  it("numbers parameters like SQLite and counts statements", () => {
    expect(scanSql("SELECT :a, ?5, @b, :a, ?").params).toEqual([
      { index: 1, name: ":a" },
      { index: 5, name: "?5" },
      { index: 6, name: "@b" },
      { index: 7, name: null },
    ]);
    expect(scanSql("SELECT :a, ?5, @b, :a, ?").paramCount).toBe(7);
    expect(scanSql("  -- nothing\n ; ").statements).toBe(0);
    expect(scanSql("SELECT 1;  /* trailing */ ;").statements).toBe(1);
    expect(scanSql("SELECT 1; SELECT ?").statements).toBe(2);
    expect(scanSql("SELECT 1; SELECT ?").paramCount).toBe(0);
    expect(scanSql("CREATE TEMP TRIGGER t AFTER INSERT ON x BEGIN UPDATE y SET n = n + 1; DELETE FROM z; END;").statements).toBe(1);
    expect(scanSql("explain query plan SELECT 1").isExplain).toBe(true);
    expect(scanSql("SELECT 'explain'").isExplain).toBe(false);
  });
});

describe("hrana server protocol details", () => {
  it("answers version probes and falls back from protobuf", async () => {
    expect((await fetch(`${server.url}/v3`)).status).toBe(200);
    expect((await fetch(`${server.url}/v2`)).status).toBe(200);
    expect((await fetch(`${server.url}/v3-protobuf`)).status).toBe(404);
  });

  it("supports v3 get_autocommit, is_autocommit conditions, store_sql and describe over batons", async () => {
    const first = await pipeline("v3", {
      baton: null,
      requests: [
        { type: "store_sql", sql_id: 1, sql: "SELECT ?1 + 1 AS x" },
        {
          type: "batch",
          batch: {
            steps: [
              { stmt: { sql: "BEGIN", want_rows: false } },
              { condition: { type: "not", cond: { type: "is_autocommit" } }, stmt: { sql_id: 1, args: [{ type: "integer", value: "41" }] } },
              { condition: { type: "error", step: 1 }, stmt: { sql: "SELECT 'never'" } },
            ],
          },
        },
        { type: "get_autocommit" },
        { type: "describe", sql: "INSERT INTO ledger (amount) VALUES (:amount)" },
      ],
    });
    expect(first.status).toBe(200);
    const baton = first.json["baton"];
    expect(typeof baton).toBe("string");
    const results = first.json["results"] as { type: string; response: Record<string, unknown> }[];
    expect(results.map((r) => r.type)).toEqual(["ok", "ok", "ok", "ok"]);
    const batch = results[1]?.response["result"] as { step_results: ({ rows: unknown[][] } | null)[] };
    expect(batch.step_results[1]?.rows).toEqual([[{ type: "integer", value: "42" }]]);
    expect(batch.step_results[2]).toBeNull();
    expect(results[2]?.response).toEqual({ type: "get_autocommit", is_autocommit: false });
    expect(results[3]?.response["result"]).toEqual({
      params: [{ name: ":amount" }],
      cols: [],
      is_explain: false,
      is_readonly: false,
    });

    const second = await pipeline("v3", { baton, requests: [{ type: "execute", stmt: { sql: "ROLLBACK" } }, { type: "get_autocommit" }, { type: "close" }] });
    expect(second.json["baton"]).toBeNull();
    const r2 = second.json["results"] as { response: Record<string, unknown> }[];
    expect(r2[1]?.response).toEqual({ type: "get_autocommit", is_autocommit: true });

    const stale = await pipeline("v3", { baton, requests: [{ type: "get_autocommit" }] });
    expect(stale.status).toBe(400);
    expect(stale.json["code"]).toBe("STREAM_EXPIRED");
  });

  it("streams a v3 cursor", async () => {
    const resp = await fetch(`${server.url}/v3/cursor`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        baton: null,
        batch: { steps: [{ stmt: { sql: "SELECT 1 AS a UNION ALL SELECT 2" } }, { stmt: { sql: "SELEC" } }] },
      }),
    });
    const lines = (await resp.text()).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(typeof lines[0]?.["baton"]).toBe("string");
    expect(lines.slice(1).map((l) => l["type"])).toEqual(["step_begin", "row", "row", "step_end", "step_error"]);
  });

  it("expires idle streams and rolls back their transaction", async () => {
    const open = await pipeline("v2", {
      requests: [{ type: "execute", stmt: { sql: "BEGIN IMMEDIATE" } }, { type: "execute", stmt: { sql: "INSERT INTO ledger (amount) VALUES (999)" } }],
    });
    expect(typeof open.json["baton"]).toBe("string");
    await new Promise((r) => setTimeout(r, 1800));
    const late = await pipeline("v2", { baton: open.json["baton"], requests: [{ type: "execute", stmt: { sql: "COMMIT" } }] });
    expect(late.status).toBe(400);
    const rs = await client.execute("SELECT count(*) AS n FROM ledger WHERE amount = 999");
    expect(rs.rows[0]?.["n"]).toBe(0);
    // The expired stream's write lock is gone.
    expect((await client.execute("INSERT INTO ledger (amount) VALUES (1000)")).rowsAffected).toBe(1);
  });
});
