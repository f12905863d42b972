// Test support: a real control plane over a real libSQL file in a temp directory, with a manual clock.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../db/client";
import { migrateDatabase } from "../../db/migrate";
import { createStore, type Store } from "../../db/store";
import { createControlPlane, type ControlPlane } from "../../worker/app";
import { generateSigningKey, type SigningKeys } from "../../worker/auth/keys";
import { recordOperatorToken } from "../../worker/auth/operator-tokens";
import type { RoleGrants } from "../../worker/auth/roles";
import { bootstrap } from "../../worker/bootstrap";
import { ManualClock } from "../../worker/clock";
import { parseConfig, type ConfigInput } from "../../worker/config";
import { parseKeyring } from "../../worker/secrets/keyring";
import type { Metrics } from "../../worker/metrics";

export interface TestControlPlane extends ControlPlane {
  dir: string;
  store: Store;
  keys: SigningKeys;
  clock: ManualClock;
  adminToken: string;
  /** Issues a token with these grants and records it, as POST /v1/tokens would. */
  token(roles: RoleGrants, subject?: string): Promise<string>;
  /** app.request with a bearer token and JSON body. */
  call(method: string, path: string, opts?: { token?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  close(): void;
}

export async function createTestControlPlane(
  opts: { config?: ConfigInput; dir?: string; keys?: SigningKeys; clock?: ManualClock; /** LEASEHOLD_SECRETS_KEY */ secretsKey?: string; /** Default: a registry of its own. */ metrics?: Metrics } = {},
): Promise<TestControlPlane> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "leasehold-test-"));
  const client = await openDatabase({ dataDir: dir });
  await migrateDatabase(client);
  const store = createStore(client);
  const keys = opts.keys ?? (await generateSigningKey()).keys;
  const clock = opts.clock ?? new ManualClock(Date.UTC(2026, 0, 1));
  const config = parseConfig(opts.config ?? {});
  const adminToken = (await bootstrap(store, keys, clock, config.tokenTtl)) ?? (await issueRecorded(store, keys, clock, { "*": "admin" }, "admin"));
  const secrets = await parseKeyring(opts.secretsKey);
  const cp = createControlPlane({ store, keys, clock, config, secrets, ...(opts.metrics ? { metrics: opts.metrics } : {}), log: (message, fields) => { if (process.env["LEASEHOLD_TEST_LOG"]) console.error(message, fields); } });
  return {
    ...cp,
    dir,
    store,
    keys,
    clock,
    adminToken,
    token: (roles, subject = "tester") => issueRecorded(store, keys, clock, roles, subject),
    async call(method, path, o = {}) {
      const token = o.token === undefined ? adminToken : o.token;
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      if (token) headers["authorization"] = `Bearer ${token}`;
      let body: string | undefined;
      if (o.body !== undefined) {
        body = typeof o.body === "string" ? o.body : JSON.stringify(o.body);
        headers["content-type"] ??= "application/json";
      }
      return cp.app.request(path, { method, headers, ...(body !== undefined ? { body } : {}) });
    },
    close() {
      client.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function issueRecorded(store: Store, keys: SigningKeys, clock: ManualClock, roles: RoleGrants, subject: string): Promise<string> {
  return recordOperatorToken(store, keys, clock, { subject, roles, ttlMs: 24 * 3_600_000, createdBy: "test" });
}
