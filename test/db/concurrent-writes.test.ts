// Two OS processes writing one libSQL file through openDatabase at the same time: no acknowledged write is lost.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Client } from "@libsql/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../db/client";
import { contendedWrites, COUNTERS_TABLE_SQL, GO_FILE, missingAcks, overlap, parseWriterLog, READY_SUFFIX, WRITES_TABLE_SQL, writerSwitches, type Ack, type WriterLog } from "./write-log";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const WRITER = fileURLToPath(new URL("./writer.ts", import.meta.url));
const WRITES_PER_PROCESS = 1500;
const WRITERS = ["a", "b"] as const;

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function startWriter(dir: string, name: string): Promise<Finished> {
  const child = spawn(process.execPath, ["--import", "tsx", WRITER, dir, name, String(WRITES_PER_PROCESS)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function storedIds(client: Client): Promise<Set<string>> {
  const rs = await client.execute("SELECT id FROM concurrent_writes");
  return new Set(rs.rows.map((r) => String(r["id"])));
}

describe("two processes writing one libSQL file", () => {
  let dir: string;
  let client: Client;
  const logs = new Map<string, WriterLog>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "leasehold-concurrent-"));
    client = await openDatabase({ dataDir: dir });
    await client.execute(WRITES_TABLE_SQL);
    await client.execute(COUNTERS_TABLE_SQL);
    for (const name of [...WRITERS, "shared"]) await client.execute({ sql: "INSERT INTO concurrent_counters (name, n) VALUES (?, 0)", args: [name] });

    // Both processes open the database and report ready before either writes, so start-up time cannot serialise them.
    const running = WRITERS.map((name) => startWriter(dir, name));
    await waitFor(() => WRITERS.every((name) => existsSync(join(dir, name + READY_SUFFIX))), "both writers to be ready");
    writeFileSync(join(dir, GO_FILE), "");
    const finished = await Promise.all(running);
    finished.forEach((f, i) => {
      const name = WRITERS[i] ?? "";
      if (f.code !== 0) throw new Error(`writer ${name} exited with ${f.code}: ${f.stderr}`);
      logs.set(name, parseWriterLog(f.stdout));
    });
  }, 60_000);

  afterAll(() => {
    client?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const log = (name: string): WriterLog => {
    const l = logs.get(name);
    if (!l) throw new Error(`no log for writer ${name}`);
    return l;
  };

  it("every write of both processes was acknowledged, through both autocommit and batch transactions", () => {
    for (const name of WRITERS) {
      const { acks, failures } = log(name);
      expect(failures).toEqual([]);
      expect(acks).toHaveLength(WRITES_PER_PROCESS);
      expect(new Set(acks.map((a) => a.id)).size).toBe(WRITES_PER_PROCESS);
      expect(acks.filter((a) => a.via === "single").length).toBeGreaterThan(WRITES_PER_PROCESS / 3);
      expect(acks.filter((a) => a.via === "batch").length).toBeGreaterThan(WRITES_PER_PROCESS / 3);
    }
  });

  it("every acknowledged write is in the table, and nothing else is", async () => {
    const stored = await storedIds(client);
    const acked = WRITERS.flatMap((name) => log(name).acks);
    expect(missingAcks(acked, stored)).toEqual([]);
    expect(stored.size).toBe(acked.length);
  });

  it("batch transactions committed whole: counters match the batched rows, with no lost update on the shared row", async () => {
    const rs = await client.execute("SELECT name, n FROM concurrent_counters ORDER BY name");
    const counters = Object.fromEntries(rs.rows.map((r) => [String(r["name"]), Number(r["n"])]));
    const batched = (name: string) => log(name).acks.filter((a) => a.via === "batch").length;
    const stored = await client.execute("SELECT writer, count(*) AS n FROM concurrent_writes WHERE via = 'batch' GROUP BY writer ORDER BY writer");
    expect(stored.rows.map((r) => [String(r["writer"]), Number(r["n"])])).toEqual(WRITERS.map((name) => [name, batched(name)]));
    expect(counters).toEqual({ a: batched("a"), b: batched("b"), shared: batched("a") + batched("b") });
  });

  it("the two processes really interleaved: overlapping acknowledgements and alternating commits", async () => {
    const a = log("a").acks;
    const b = log("b").acks;
    const window = overlap(a, b);
    expect(window.windowMs).toBeGreaterThan(0);
    // Most of each writer's acknowledgements fall while the other was also being acknowledged.
    expect(window.aInside).toBeGreaterThan(WRITES_PER_PROCESS / 2);
    expect(window.bInside).toBeGreaterThan(WRITES_PER_PROCESS / 2);
    // Some writes of each waited on the file lock while the other process committed.
    expect(contendedWrites(a, b)).toBeGreaterThan(5);
    expect(contendedWrites(b, a)).toBeGreaterThan(5);

    // Commit order (rowid) alternates between the processes many times, not once.
    const rs = await client.execute("SELECT writer FROM concurrent_writes ORDER BY seq");
    const order = rs.rows.map((r) => String(r["writer"]));
    expect(order).toHaveLength(2 * WRITES_PER_PROCESS);
    expect(writerSwitches(order)).toBeGreaterThan(100);
  });

  it("negative control: the checks flag a deleted acknowledged row and writers that ran one after the other", async () => {
    const acked = WRITERS.flatMap((name) => log(name).acks);
    const victim = acked[Math.floor(acked.length / 2)];
    if (!victim) throw new Error("no acknowledged write to delete");
    const deleted = await client.execute({ sql: "DELETE FROM concurrent_writes WHERE id = ?", args: [victim.id] });
    expect(deleted.rowsAffected).toBe(1);
    expect(missingAcks(acked, await storedIds(client))).toEqual([victim.id]);

    const at = (ms: number, id: string): Ack => ({ id, via: "single", start: ms - 0.5, at: ms });
    const first = [at(1, "a1"), at(2, "a2")];
    const second = [at(3, "b1"), at(4, "b2")];
    expect(overlap(first, second)).toEqual({ windowMs: 0, aInside: 0, bInside: 0 });
    expect([contendedWrites(first, second), contendedWrites(second, first)]).toEqual([0, 0]);
    expect(contendedWrites([{ id: "a3", via: "batch", start: 2.9, at: 3.6 }], second)).toBe(1);
    expect(writerSwitches(["a", "a", "a", "b", "b"])).toBe(1);
    expect(writerSwitches(["a", "b", "a", "b"])).toBe(3);
  });
});
