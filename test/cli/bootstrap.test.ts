// `leasehold bootstrap` in-process against a real HTTP control plane configured as a Worker is: a bootstrap
// secret, and a migrated database that nothing has bootstrapped.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAdaptorServer, type ServerType } from "@hono/node-server";
import { afterEach, beforeEach, expect, it } from "vitest";
import { runCli } from "../../cli/main";
import { openDatabase } from "../../db/client";
import { migrateDatabase } from "../../db/migrate";
import { createStore } from "../../db/store";
import { createControlPlane } from "../../worker/app";
import { generateSigningKey } from "../../worker/auth/keys";
import { systemClock } from "../../worker/clock";
import { parseConfig } from "../../worker/config";

const SECRET = "cli-bootstrap-secret-0123456789abcdefghijkl";

let dir: string;
let url: string;
let server: ServerType;
let closeDb: () => void;
let requests: string[];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-cli-bootstrap-"));
  const client = await openDatabase({ dataDir: join(dir, "data") });
  await migrateDatabase(client);
  closeDb = () => client.close();
  const { keys } = await generateSigningKey();
  const cp = createControlPlane({ store: createStore(client), keys, clock: systemClock, config: parseConfig({}), bootstrapSecret: SECRET, log: () => {} });
  requests = [];
  server = createAdaptorServer({
    fetch: (req: Request) => {
      requests.push(`${req.method} ${new URL(req.url).pathname}`);
      return cp.app.fetch(req);
    },
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await new Promise<void>((done) => server.close(() => done()));
  closeDb();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
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

async function namespacesWith(token: string): Promise<string[]> {
  const res = await fetch(`${url}/v1/namespaces`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { namespaces: { name: string }[] }).namespaces.map((n) => n.name);
}

it("takes the secret from LEASEHOLD_BOOTSTRAP_SECRET, prints the admin token once, and is refused the second time", async () => {
  const first = await cli(["bootstrap", "--server", url], { LEASEHOLD_BOOTSTRAP_SECRET: SECRET });
  expect(first.stderr).toBe("");
  expect(first.code).toBe(0);
  const token = /export LEASEHOLD_TOKEN=(\S+)/.exec(first.stdout)?.[1];
  expect(first.stdout).toContain(`export LEASEHOLD_ADDR=${url}\n`);
  expect(token).toBeDefined();
  expect(await namespacesWith(token!)).toEqual(["default"]);

  const second = await cli(["bootstrap", "--server", url], { LEASEHOLD_BOOTSTRAP_SECRET: SECRET });
  expect(second).toEqual({ code: 1, stdout: "", stderr: `error: ${url} has been bootstrapped already; an admin can issue you a token (POST /v1/tokens)\n` });
});

it("reads the secret from --secret-file (a trailing line break is fine) and saves the token with --save", async () => {
  const file = join(dir, "bootstrap-secret");
  writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
  const run = await cli(["bootstrap", "--secret-file", file, "--save"], { LEASEHOLD_ADDR: url });
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  const configPath = join(dir, "xdg", "leasehold", "config.json");
  expect(run.stdout).toBe(`admin token saved to ${configPath} (readable by you only); namespace "default" is ready\n`);
  expect(run.stdout).not.toMatch(/eyJ/);
  expect(statSync(configPath).mode & 0o777).toBe(0o600);
  const saved = JSON.parse(readFileSync(configPath, "utf8")) as { addr: string; token: string };
  expect(saved.addr).toBe(url);
  expect(await namespacesWith(saved.token)).toEqual(["default"]);
  // The saved config is what every other command then uses.
  const status = await cli(["status", "-o", "json"]);
  expect(status.code).toBe(0);
});

it("never takes the secret from the command line, and without one sends nothing", async () => {
  const none = await cli(["bootstrap", "--server", url]);
  expect(none).toEqual({ code: 1, stdout: "", stderr: "error: no bootstrap secret: set LEASEHOLD_BOOTSTRAP_SECRET or pass --secret-file\n" });
  const argv = await cli(["bootstrap", "--server", url, "--secret", SECRET]);
  expect(argv.code).not.toBe(0);
  expect(argv.stderr).toContain("unknown option '--secret'");
  const empty = join(dir, "empty");
  writeFileSync(empty, "\n");
  expect((await cli(["bootstrap", "--server", url, "--secret-file", empty])).stderr).toBe(`error: no bootstrap secret: set LEASEHOLD_BOOTSTRAP_SECRET or pass --secret-file (${empty} is empty)\n`);
  expect(requests).toEqual([]);
});

it("says so when the secret is refused, and the control plane stays unbootstrapped", async () => {
  const wrong = await cli(["bootstrap", "--server", url], { LEASEHOLD_BOOTSTRAP_SECRET: `${SECRET}-not` });
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).toBe(`error: the control plane at ${url} refused the bootstrap secret: the bootstrap secret is wrong\n`);
  const right = await cli(["bootstrap", "--server", url, "-o", "json"], { LEASEHOLD_BOOTSTRAP_SECRET: SECRET });
  expect(right.code).toBe(0);
  expect(JSON.parse(right.stdout)).toMatchObject({ addr: url, namespace: "default", token: expect.any(String) });
});
