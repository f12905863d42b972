// A writer process for concurrent-writes.test.ts: waits at a start barrier, then writes rows through openDatabase.
// Usage: node --import tsx test/db/writer.ts <dataDir> <name> <count>
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { InStatement } from "@libsql/client";
import { openDatabase } from "../../db/client";
import { formatAck, GO_FILE, READY_SUFFIX, type Ack } from "./write-log";

const BATCH_ROWS = 3;
// A 1 ms pause every few rounds: without it the writer holding the lock keeps winning it back while the
// other sleeps in its busy handler, and the processes run one after the other instead of interleaving.
const PAUSE_EVERY_ROUNDS = 4;

const [dir, name, countText] = process.argv.slice(2);
const count = Number(countText);
if (!dir || !name || !Number.isInteger(count) || count < 1) {
  process.stderr.write("usage: writer.ts <dataDir> <name> <count>\n");
  process.exit(2);
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// stdout is a pipe, written synchronously on Linux, so a printed ack is never lost if the process dies after it.
const print = (line: string) => process.stdout.write(line);

const insert = (id: string, via: Ack["via"]): InStatement => ({
  sql: "INSERT INTO concurrent_writes (id, writer, via) VALUES (?, ?, ?)",
  args: [id, name, via],
});
const bump = (counter: string, by: number): InStatement => ({
  sql: "UPDATE concurrent_counters SET n = n + ? WHERE name = ?",
  args: [by, counter],
});

const client = await openDatabase({ dataDir: dir });
writeFileSync(join(dir, name + READY_SUFFIX), String(process.pid));
while (!existsSync(join(dir, GO_FILE))) await sleep(1);

// Two autocommit inserts, then one IMMEDIATE transaction of three inserts and two counter updates, repeated.
let next = 0;
let round = 0;
while (next < count) {
  const useBatch = round++ % 3 === 2;
  const ids: string[] = [];
  for (let i = 0; i < (useBatch ? BATCH_ROWS : 1) && next < count; i++) ids.push(`${name}-${next++}`);
  const via: Ack["via"] = useBatch ? "batch" : "single";
  const start = now();
  try {
    if (useBatch) {
      await client.batch([...ids.map((id) => insert(id, via)), bump(name, ids.length), bump("shared", ids.length)], "write");
    } else {
      await client.execute(insert(ids[0] ?? "", via));
    }
    const at = now();
    for (const id of ids) print(formatAck({ id, via, start, at }));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    for (const id of ids) print(`fail ${id} ${String(code ?? (err as Error).message).replace(/\s+/g, "_")}\n`);
  }
  if (round % PAUSE_EVERY_ROUNDS === 0) await sleep(1);
}
client.close();
