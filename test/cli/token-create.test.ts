// leasehold token create --admin: an operator who holds the data dir (its key, and its database or
// LIBSQL_URL) mints a working admin token, recorded and audited like one the API issues.
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../../cli/main";
import { parseConfig } from "../../worker/config";
import { startNodeServer, type NodeServer } from "../../worker/node";
import { startHranaServer, type HranaServer } from "../hrana/server";

let dir: string;
const cleanups: (() => Promise<void>)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-token-create-"));
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { HOME: dir, XDG_CONFIG_HOME: join(dir, "xdg"), ...env },
    fetch: globalThis.fetch,
  });
  return { code, stdout, stderr };
}

async function start(dataDir: string, libsqlUrl?: string): Promise<NodeServer> {
  const server = await startNodeServer({ dataDir, libsqlUrl, port: 0, sweep: false, config: parseConfig({}), log: () => {} });
  cleanups.push(() => server.close());
  return server;
}

interface TokenList {
  tokens: { id: string; subject: string; roles: Record<string, string>; createdBy: string }[];
}

async function listTokens(server: NodeServer, token: string): Promise<{ status: number; body: TokenList | null }> {
  const res = await fetch(`${server.url}/v1/tokens`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: res.ok ? ((await res.json()) as TokenList) : null };
}

async function auditActions(url: string): Promise<{ actor: string; action: string; target: string }[]> {
  const client = createClient({ url });
  try {
    const rs = await client.execute("SELECT actor, action, target FROM audit ORDER BY id");
    return rs.rows.map((r) => ({ actor: String(r["actor"]), action: String(r["action"]), target: String(r["target"]) }));
  } finally {
    client.close();
  }
}

describe("token create --admin", () => {
  it("mints a working admin token for a data dir whose bootstrap token was lost", async () => {
    const dataDir = join(dir, "data");
    const first = await start(dataDir);
    await first.close();
    cleanups.pop();

    const r = await cli(["token", "create", "--admin", "--data-dir", dataDir, "--subject", "ops"]);
    expect(r.code).toBe(0);
    const token = r.stdout.trim();
    expect(r.stdout).toBe(`${token}\n`);
    expect(r.stderr).toMatch(/^admin token [0-9a-f-]{36} for ops, valid until \d{4}-\d\d-\d\dT[\d:.]+Z \(shown once; signed with .*signing-key\.jwk\)\n$/);

    // A later start shows no token of its own; the minted one works against it.
    const server = await start(dataDir);
    expect(server.adminToken).toBeNull();
    const list = await listTokens(server, token);
    expect(list.status).toBe(200);
    const minted = list.body?.tokens.find((t) => t.subject === "ops");
    expect(minted).toMatchObject({ roles: { "*": "admin" }, createdBy: expect.stringMatching(/^data-dir:/) });
    expect(await auditActions(`file:${join(dataDir, "leasehold.db")}`)).toContainEqual({ actor: minted?.createdBy, action: "token.issue", target: minted?.id });
  });

  it("records the token in the database LIBSQL_URL names, for a control plane running against it", async () => {
    const hrana: HranaServer = await startHranaServer({ path: join(dir, "remote.db") });
    cleanups.push(() => hrana.close());
    const dataDir = join(dir, "data");
    const server = await start(dataDir, hrana.url);
    expect(server.adminToken).not.toBeNull();
    expect(readdirSync(dataDir)).toEqual(["signing-key.jwk"]);

    const r = await cli(["token", "create", "--admin", "--data-dir", dataDir, "-o", "json"], { LIBSQL_URL: hrana.url });
    expect(r.code).toBe(0);
    const { token, info } = JSON.parse(r.stdout) as { token: string; info: { id: string; subject: string } };
    expect(info.subject).toBe("admin");
    expect((await listTokens(server, token)).status).toBe(200);
    expect(await auditActions(hrana.url)).toContainEqual(expect.objectContaining({ action: "token.issue", target: info.id }));
    // Nothing was created locally for the remote database.
    expect(readdirSync(dataDir)).toEqual(["signing-key.jwk"]);
  });

  it("refuses without --admin, and without a key or database in the data dir, creating nothing", async () => {
    const dataDir = join(dir, "empty");
    expect(await cli(["token", "create", "--data-dir", dataDir])).toEqual({
      code: 1,
      stdout: "",
      stderr: "error: only admin tokens are minted from the data dir: pass --admin (issue others through the API with an admin token)\n",
    });
    const noKey = await cli(["token", "create", "--admin", "--data-dir", dataDir]);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toBe(`error: no signing key in ${dataDir} (signing-key.jwk): is it the control plane's data dir? (--data-dir or LEASEHOLD_DATA_DIR)\n`);
    expect(existsSync(dataDir)).toBe(false);
  });
});
