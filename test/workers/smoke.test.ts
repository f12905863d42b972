// Smoke test inside workerd: reaches libSQL over Hrana HTTP with @libsql/client/web and drizzle-orm/libsql/web.
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { createClient } from "@libsql/client/web";
import { drizzle } from "drizzle-orm/libsql/web";
import { sql } from "drizzle-orm";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

describe("workerd smoke", () => {
  it("runs inside workerd with the libSQL URL binding", () => {
    expect(navigator.userAgent).toBe("Cloudflare-Workers");
    expect(env.LIBSQL_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(inject("libsqlUrl")).toBe(env.LIBSQL_URL);
  });

  it("creates, inserts and selects through @libsql/client/web", async () => {
    const client = createClient({ url: env.LIBSQL_URL });
    try {
      await client.execute("CREATE TABLE smoke_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB)");
      const ins = await client.execute({
        sql: "INSERT INTO smoke_items (name, data) VALUES (?, ?)",
        args: ["first", new Uint8Array([1, 2, 3])],
      });
      expect(ins.rowsAffected).toBe(1);
      expect(ins.lastInsertRowid).toBe(1n);
      await client.batch([{ sql: "INSERT INTO smoke_items (name) VALUES (:name)", args: { name: "second" } }], "write");

      const tx = await client.transaction("write");
      await tx.execute("INSERT INTO smoke_items (name) VALUES ('rolled back')");
      await tx.rollback();

      const rs = await client.execute("SELECT id, name, data FROM smoke_items ORDER BY id");
      expect(rs.rows.map((r) => r["name"])).toEqual(["first", "second"]);
      expect(new Uint8Array(rs.rows[0]?.["data"] as ArrayBuffer)).toEqual(new Uint8Array([1, 2, 3]));
    } finally {
      client.close();
    }
  });

  it("queries through drizzle-orm/libsql/web", async () => {
    const db = drizzle({ connection: { url: env.LIBSQL_URL } });
    const hosts = sqliteTable("smoke_hosts", {
      id: integer("id").primaryKey({ autoIncrement: true }),
      name: text("name").notNull(),
      labels: text("labels", { mode: "json" }).$type<Record<string, string>>(),
    });
    try {
      await db.run(sql`CREATE TABLE smoke_hosts (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, labels TEXT)`);
      const [created] = await db.insert(hosts).values({ name: "edge-1", labels: { zone: "a" } }).returning();
      expect(created).toEqual({ id: 1, name: "edge-1", labels: { zone: "a" } });
      await db.transaction(async (tx) => {
        await tx.insert(hosts).values({ name: "edge-2" });
      });
      const rows = await db.select({ name: hosts.name }).from(hosts).orderBy(hosts.id);
      expect(rows).toEqual([{ name: "edge-1" }, { name: "edge-2" }]);
    } finally {
      db.$client.close();
    }
  });
});
