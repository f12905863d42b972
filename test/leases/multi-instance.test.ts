// Three control-plane processes on one libSQL file, with a hollow fleet claiming and heartbeating
// through all of them at once, in rounds. After every round the store is checked: no task under two
// unexpired leases, no node over-committed, one live row per slot, epochs only rising.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createClient, type Client } from "@libsql/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HollowAgent, httpFetcher, type Fetcher } from "../../bench/hollow-agent";

const INSTANCES = 3;
const AGENTS = 24;
const TTL_MS = 3_000;

let dir: string;
let procs: ChildProcess[] = [];
let urls: string[] = [];
let adminToken = "";
let db: Client;
const stderr: string[] = [];

function startInstance(): Promise<{ url: string; adminToken: string | null; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ["--import", "tsx", "test/support/cp-process.ts", dir, "1s", "3s"], { stdio: ["ignore", "pipe", "pipe"] });
  proc.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`control plane did not start: ${stderr.join("")}`)), 30_000);
    createInterface({ input: proc.stdout! }).once("line", (line) => {
      clearTimeout(timer);
      const info = JSON.parse(line) as { url: string; adminToken: string | null };
      resolve({ ...info, proc });
    });
    proc.once("exit", (code) => reject(new Error(`control plane exited with ${code}: ${stderr.join("")}`)));
  });
}

/** Each request goes to a random instance: the instances share nothing but the store. */
const anyInstance: Fetcher = (path, init) => httpFetcher(urls[Math.floor(Math.random() * urls.length)]!)(path, init);

async function admin(path: string, body: unknown, instance = 0): Promise<unknown> {
  const res = await fetch(urls[instance]! + path, { method: "POST", headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  const data = (await res.json()) as unknown;
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(data)}\n${stderr.join("").slice(-2000)}`);
  return data;
}

const maxEpoch = new Map<string, number>();

async function checkInvariants(agents: HollowAgent[], round: string): Promise<{ live: number }> {
  const now = Date.now();
  const [dupSlots, overCommit, rows] = await db.batch(
    [
      "SELECT job_id, slot, count(*) AS n FROM tasks WHERE desired = 'run' GROUP BY job_id, slot HAVING n > 1",
      `SELECT n.name, n.cpu, sum(t.cpu) AS used FROM nodes n JOIN tasks t ON t.node_id = n.id
         WHERE t.state IN ('placed', 'leased', 'running') GROUP BY n.id HAVING used > n.cpu`,
      "SELECT id, node_id, epoch, state, lease_expires_at FROM tasks",
    ],
    "read",
  );
  expect(dupSlots!.rows, `${round}: two live rows for one slot`).toEqual([]);
  expect(overCommit!.rows, `${round}: over-committed nodes`).toEqual([]);
  const byId = new Map(rows!.rows.map((r) => [String(r["id"]), r]));
  for (const [id, r] of byId) {
    const epoch = Number(r["epoch"]);
    expect(epoch, `${round}: epoch of ${id} went down`).toBeGreaterThanOrEqual(maxEpoch.get(id) ?? 0);
    maxEpoch.set(id, epoch);
  }
  // A lease is valid if its epoch is the task's current one and the store's expiry has not passed.
  const holders = new Map<string, string[]>();
  for (const a of agents) {
    for (const l of a.leases.values()) {
      const r = byId.get(l.taskId);
      if (!r || Number(r["epoch"]) !== l.epoch) continue;
      const expires = r["lease_expires_at"] === null ? 0 : Number(r["lease_expires_at"]);
      if (expires < now || !["leased", "running"].includes(String(r["state"]))) continue;
      holders.set(l.taskId, [...(holders.get(l.taskId) ?? []), a.nodeId]);
      expect(a.nodeId, `${round}: ${a.name} holds a valid lease for a task on another node`).toBe(String(r["node_id"]));
    }
  }
  for (const [taskId, nodes] of holders) expect(nodes, `${round}: task ${taskId} under two valid leases`).toHaveLength(1);
  return { live: holders.size };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-multi-"));
  // Started together: bootstrap must hand out exactly one admin token.
  const started = await Promise.all(Array.from({ length: INSTANCES }, () => startInstance()));
  procs = started.map((s) => s.proc);
  urls = started.map((s) => s.url);
  const tokens = started.map((s) => s.adminToken).filter((t): t is string => t !== null);
  expect(tokens).toHaveLength(1);
  adminToken = tokens[0]!;
  db = createClient({ url: `file:${join(dir, "leasehold.db")}`, timeout: 10_000 });
}, 60_000);

afterAll(async () => {
  db?.close();
  await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : (p.once("exit", r), p.kill("SIGTERM"))))));
  rmSync(dir, { recursive: true, force: true });
});

describe("three control-plane instances on one database", () => {
  it("never double-leases or over-commits while agents claim, fail and jobs change concurrently", async () => {
    const { token } = (await admin("/v1/join-tokens", {})) as { token: string };
    const agents = Array.from({ length: AGENTS }, (_, i) => new HollowAgent(anyInstance, `hollow-${i}`, { cpu: 1000, memory: 2048, region: i % 2 ? "eu" : "us" }));
    await Promise.all(agents.map((a) => a.enroll(token)));
    await Promise.all(agents.map((a) => a.heartbeat()));

    // Jobs applied concurrently through different instances: 48 × 300m on 24 × 1000m nodes (3 fit a node),
    // and after a quarter of the fleet goes silent the 46 wanted tasks still fit on the 18 left (54).
    await Promise.all(
      Array.from({ length: 6 }, (_, j) =>
        admin("/v1/jobs", { name: `job-${j}`, image: "img", replicas: 8, resources: { cpu: 300, memory: 128 }, ...(j % 2 ? { spread: { attribute: "region" } } : {}) }, j % INSTANCES),
      ),
    );

    const round = async (label: string, alive: HollowAgent[]) => {
      await Promise.all(alive.map(async (a) => {
        await a.claim();
        await a.heartbeat();
      }));
      return checkInvariants(agents, label);
    };

    let live = 0;
    for (let r = 0; r < 3; r++) live = (await round(`round ${r}`, agents)).live;
    expect(live).toBe(48);

    // A quarter of the fleet goes silent; every instance's sweep races to replace their tasks.
    const silent = new Set(agents.slice(0, 6));
    const alive = agents.filter((a) => !silent.has(a));
    const deadline = Date.now() + 6 * TTL_MS;
    let settled = false;
    while (Date.now() < deadline) {
      await Promise.all([
        round("failover", alive),
        // Concurrent scale changes through different instances while replacements happen.
        admin("/v1/jobs", { name: "job-0", image: "img", replicas: 4, resources: { cpu: 300, memory: 128 } }, 1),
        admin("/v1/jobs", { name: "job-1", image: "img", replicas: 10, resources: { cpu: 300, memory: 128 }, spread: { attribute: "region" } }, 2),
      ]);
      const silentIds = [...silent].map((a) => `'${a.nodeId}'`).join(",");
      const [onSilent, notRunning] = await db.batch(
        [
          `SELECT count(*) AS n FROM tasks WHERE node_id IN (${silentIds}) AND state IN ('placed', 'leased', 'running')`,
          "SELECT count(*) AS n FROM tasks WHERE desired = 'run' AND state != 'running' AND NOT (state = 'complete')",
        ],
        "read",
      );
      if (Number(onSilent!.rows[0]?.["n"]) === 0 && Number(notRunning!.rows[0]?.["n"]) === 0) {
        settled = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    if (!settled) {
      const left = await db.execute("SELECT job_id, slot, version, state, desired, node_id, message FROM tasks WHERE desired = 'run' AND state != 'running'");
      expect.fail(`replacements did not settle: ${JSON.stringify(left.rows)}`);
    }

    // The silent agents come back: each of their reports for a replaced task is refused.
    const refused = await Promise.all([...silent].map((a) => a.heartbeat()));
    expect(refused.flatMap((r) => r.revoked).every((x) => ["stale-epoch", "expired", "stopped"].includes(x.reason))).toBe(true);
    expect(refused.flatMap((r) => r.renewed)).toEqual([]);
    await checkInvariants(agents, "after return");
    expect(stderr.join("")).not.toMatch(/request failed/);
  }, 120_000);
});
