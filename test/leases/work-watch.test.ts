// The work watch: one store read per interval for all the claims waiting on an instance, however many,
// none while none waits, and a waiter woken only once its own node's marker moved.
import type { Client } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WorkWatch } from "../../worker/leases/work-watch";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";

const INTERVAL_MS = 100;
let cp: TestControlPlane;
let reads = 0;
let watch: WorkWatch;
let waits: AbortController;

function countReads(client: Client): Client {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === "execute" || prop === "batch") {
        return (...args: unknown[]) => {
          reads++;
          return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function addNodes(n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `node-${i}`);
  await cp.store.client.execute({
    sql: `INSERT INTO nodes (id, name, region, labels, cpu, memory, status, created_at, updated_at)
          SELECT value, value, 'global', '{}', 1000, 1024, 'ready', 0, 0 FROM json_each(?)`,
    args: [JSON.stringify(ids)],
  });
  return ids;
}

/** What a placement's trigger does: the next value of the sequence, on these nodes. */
async function move(ids: string[]): Promise<void> {
  for (const id of ids) await cp.store.client.execute({ sql: "UPDATE nodes SET work_seq = (SELECT max(work_seq) FROM nodes) + 1 WHERE id = ?", args: [id] });
}

const top = async () => Number((await cp.store.client.execute("SELECT max(work_seq) AS m FROM nodes")).rows[0]?.["m"]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeEach(async () => {
  cp = await createTestControlPlane();
  reads = 0;
  watch = new WorkWatch(countReads(cp.store.client), INTERVAL_MS, () => undefined);
  waits = new AbortController();
});
afterEach(() => {
  waits.abort();
  cp.close();
});

describe("the work watch", () => {
  for (const n of [5, 300]) {
    it(`reads once per interval for ${n} waiting claims and wakes only the one whose node got work`, async () => {
      const ids = await addNodes(n);
      const since = await top();
      const woken = new Set<string>();
      for (const id of ids) void watch.wait(id, since, waits.signal).then(() => woken.add(id));
      await sleep(1_000);
      expect(reads).toBeLessThanOrEqual(1_000 / INTERVAL_MS + 1);
      expect(woken.size).toBe(0);

      await move([ids[n - 1]!]);
      await sleep(3 * INTERVAL_MS);
      expect([...woken]).toEqual([ids[n - 1]]);
      expect(watch.waiting).toBe(n - 1);
    });
  }

  it("reads nothing while no claim waits", async () => {
    await addNodes(3);
    const abort = new AbortController();
    const waiting = watch.wait("node-0", await top(), abort.signal);
    abort.abort();
    await waiting;
    reads = 0;
    await sleep(5 * INTERVAL_MS);
    expect(reads).toBe(0);
  });

  it("wakes a claim whose node moved past the first page of moves", async () => {
    const ids = await addNodes(1_300);
    const since = await top();
    const woken = new Set<string>();
    // More waiting nodes than are read by id: the range of moved markers is read, a page at a time.
    for (const id of ids.slice(1_100)) void watch.wait(id, since, waits.signal).then(() => woken.add(id));
    await move(ids.slice(0, 1_200));
    await sleep(4 * INTERVAL_MS);
    expect(woken).toEqual(new Set(ids.slice(1_100, 1_200)));
  });
});
