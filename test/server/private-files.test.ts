// State on disk is owner-only whatever the umask: the control plane's data dir 0700 with its database
// (and the -wal and -shm files SQLite makes beside it, now and later) and key 0600; the agent's state dir
// and files likewise. A dir or file found looser is tightened, with a warning.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { saveIdentity, loadIdentity, type AgentIdentity } from "../../agent/identity";
import { createLeaseStore } from "../../agent/lease-store";
import { openDatabase } from "../../db/client";
import { ensurePrivateFile } from "../../lib/private-files";
import { parseConfig } from "../../worker/config";
import { startNodeServer } from "../../worker/node";

let dir: string;
let umask: number;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-perms-"));
  // The most permissive umask: nothing may rely on the usual 022 (or on one the operator tightened).
  umask = process.umask(0);
});

afterEach(() => {
  process.umask(umask);
  rmSync(dir, { recursive: true, force: true });
});

const mode = (path: string) => `0${(statSync(path).mode & 0o777).toString(8)}`;

async function runServer(dataDir: string, warnings: string[] = []) {
  const server = await startNodeServer({ dataDir, port: 0, sweep: false, config: parseConfig({}), log: (message) => warnings.push(message) });
  // A write through the API, so the WAL has content and the key has signed something.
  const res = await fetch(`${server.url}/v1/tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.adminToken ?? ""}`, "content-type": "application/json" },
    body: JSON.stringify({ subject: "viewer", roles: { default: "viewer" } }),
  });
  return { server, issued: res.status };
}

describe("the control plane's data dir", () => {
  it("is 0700 with the database, its -wal and -shm, and the key 0600, on the first start and the next", async () => {
    const data = join(dir, "data");
    const { server, issued } = await runServer(data);
    expect(issued).toBe(201);
    const files = ["leasehold.db", "leasehold.db-wal", "leasehold.db-shm", "signing-key.jwk"].map((f) => join(data, f));
    expect({ dir: mode(data), files: files.map(mode) }).toEqual({ dir: "0700", files: ["0600", "0600", "0600", "0600"] });
    await server.close();
    const again = await runServer(data);
    expect(again.issued).toBe(401);
    expect(files.map(mode)).toEqual(["0600", "0600", "0600", "0600"]);
    await again.server.close();
  });

  it("is tightened, with a warning, when an older start left it readable by others", async () => {
    const data = join(dir, "data");
    const first = await runServer(data);
    await first.server.close();
    chmodSync(data, 0o755);
    chmodSync(join(data, "leasehold.db"), 0o644);
    chmodSync(join(data, "signing-key.jwk"), 0o644);
    chmodSync(join(data, "leasehold.db-wal"), 0o644);

    const warnings: string[] = [];
    const second = await runServer(data, warnings);
    expect([mode(data), ...["leasehold.db", "leasehold.db-wal", "leasehold.db-shm", "signing-key.jwk"].map((f) => mode(join(data, f)))]).toEqual(["0700", "0600", "0600", "0600", "0600"]);
    await second.server.close();
    expect(warnings).toEqual(
      expect.arrayContaining([
        `${data} was readable by other users (mode 0755); it is now 0700`,
        `${join(data, "leasehold.db")} was readable by other users (mode 0644); it is now 0600`,
        `${join(data, "leasehold.db-wal")} was readable by other users (mode 0644); it is now 0600`,
        `${join(data, "signing-key.jwk")} was readable by other users (mode 0644); it is now 0600`,
      ]),
    );
  });

  it("relies on SQLite making each -wal and -shm it creates later with the database file's mode", () => {
    const file = join(dir, "raw.db");
    ensurePrivateFile(file, () => {});
    for (let round = 0; round < 2; round++) {
      const db = new Database(file);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(`CREATE TABLE t${round} (x)`);
      expect([mode(`${file}-wal`), mode(`${file}-shm`)]).toEqual(["0600", "0600"]);
      db.close();
      // The last connection's close removes both; the next round has SQLite create them afresh.
      expect([existsSync(`${file}-wal`), existsSync(`${file}-shm`)]).toEqual([false, false]);
    }
  });

  it("makes a database named by LIBSQL_URL 0600 but leaves the directory it sits in as it was", async () => {
    const shared = join(dir, "shared");
    mkdirSync(shared, { mode: 0o755 });
    const warnings: string[] = [];
    const client = await openDatabase({ url: `file:${join(shared, "cp.db")}`, dataDir: join(dir, "unused"), warn: (m) => warnings.push(m) });
    await client.execute("CREATE TABLE t (x)");
    client.close();
    expect([mode(shared), mode(join(shared, "cp.db"))]).toEqual(["0755", "0600"]);
    expect(warnings).toEqual([]);
  });

  it("refuses a shared directory such as /tmp rather than closing it to its other users", async () => {
    const sticky = join(dir, "sticky");
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    await expect(startNodeServer({ dataDir: sticky, port: 0, sweep: false, config: parseConfig({}), log: () => {} })).rejects.toThrow(/shared directory/);
    expect(mode(sticky)).toBe("0777");
  });
});

describe("the agent's state dir", () => {
  const identity: AgentIdentity = { server: "http://cp", name: "n1", nodeId: "node-1", credential: "secret", jwks: { keys: [] } };
  const held = { t1: { lease: "lease", task: { image: "img" } as never } };

  it("is 0700 with its credential, leases, fences and last contact 0600", () => {
    const state = join(dir, "agent");
    saveIdentity(state, identity);
    const store = createLeaseStore(state);
    store.save(held);
    store.saveFences({ t1: 3 });
    store.saveContact(1_000);
    expect([mode(state), ...["agent.json", "leases.json", "fences.json", "contact.json"].map((f) => mode(join(state, f)))]).toEqual(["0700", "0600", "0600", "0600", "0600"]);
  });

  it("is tightened, with a warning, when found readable by others", () => {
    const state = join(dir, "agent");
    mkdirSync(state, { mode: 0o755 });
    writeFileSync(join(state, "agent.json"), JSON.stringify(identity), { mode: 0o644 });
    writeFileSync(join(state, "leases.json"), JSON.stringify(held), { mode: 0o644 });
    const warnings: string[] = [];
    expect(loadIdentity(state, (m) => warnings.push(m))?.nodeId).toBe("node-1");
    expect(createLeaseStore(state, (m) => warnings.push(m)).load()).toEqual(held);
    expect([mode(state), mode(join(state, "agent.json")), mode(join(state, "leases.json"))]).toEqual(["0700", "0600", "0600"]);
    expect(warnings).toEqual([
      `${state} was readable by other users (mode 0755); it is now 0700`,
      `${join(state, "agent.json")} was readable by other users (mode 0644); it is now 0600`,
      `${join(state, "leases.json")} was readable by other users (mode 0644); it is now 0600`,
    ]);
  });
});
