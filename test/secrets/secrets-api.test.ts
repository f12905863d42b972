// Secrets through the API with a real libSQL file: encrypted at rest, write-only values, use in jobs,
// sealing to the claiming node at claim time, rotation as a rollout, delete, rekey and the start check.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HollowAgent, type Fetcher } from "../../bench/hollow-agent";
import type { ClaimResponse } from "../../api/agent-protocol";
import { generateNodeKeyPair, openSealed, type NodeKeyPair } from "../../api/sealed";
import { payloadHash } from "../../api/payload-hash";
import { checkKeyring, parseKeyring } from "../../worker/secrets/keyring";
import { jwks } from "../../worker/auth/keys";
import { startNodeServer } from "../../worker/node";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { auditRows, expectJson, expectProblem } from "../api/helpers";

const KEY_A = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
const KEY_B = btoa(String.fromCharCode(...new Uint8Array(32).fill(9)));
const MARKER = `marker-${crypto.randomUUID()}`;

let cp: TestControlPlane | undefined;
const dirs: string[] = [];
afterEach(() => {
  cp?.close();
  cp = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A control plane over a data dir that outlives it (for restarts), with this secrets key (null: none). */
async function plane(secretsKey: string | null = KEY_A, dir?: string): Promise<TestControlPlane> {
  const at = dir ?? mkdtempSync(join(tmpdir(), "leasehold-secrets-"));
  if (!dir) dirs.push(at);
  cp = await createTestControlPlane({ ...(secretsKey !== null ? { secretsKey } : {}), dir: at });
  return cp;
}

async function put(c: TestControlPlane, name: string, value: string, opts: { rollout?: boolean; namespace?: string; token?: string } = {}) {
  const res = await c.call("PUT", `/v1/namespaces/${opts.namespace ?? "default"}/secrets/${name}`, {
    body: { value, ...(opts.rollout !== undefined ? { rollout: opts.rollout } : {}) },
    ...(opts.token ? { token: opts.token } : {}),
  });
  return expectJson<{ version: { version: number }; rollouts: { job: string; version: number | null; deploymentId?: string }[] }>(res, 201);
}

async function agentWithKey(c: TestControlPlane, name: string, keys: NodeKeyPair, region = "eu"): Promise<HollowAgent & { lastClaim?: ClaimResponse }> {
  const fetcher: Fetcher = async (path, init) => c.app.request(path, init);
  const res = await c.call("POST", "/v1/join-tokens", { body: {} });
  const { token } = await expectJson<{ token: string }>(res, 201);
  const a = new HollowAgent(fetcher, name, { region, encryptionKey: keys.publicJwk });
  await a.enroll(token);
  await a.heartbeat();
  return a;
}

const job = (extra: Record<string, unknown> = {}) => ({
  name: "api",
  image: "img",
  replicas: 1,
  resources: { cpu: 100, memory: 64 },
  secrets: [
    { name: "db-password", file: "/run/secrets/db-password" },
    { name: "api-key", env: "API_KEY" },
  ],
  config: [{ file: "/etc/app/app.conf", content: 'job={{ job }} slot={{ slot }} node={{ node }} region={{ region }}\npassword={{ secret "db-password" }}\n' }],
  ...extra,
});

/** Every file under the control plane's data dir (the database and its WAL included), as text. */
function dataDirText(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name)).toString("latin1"))
    .join("\n");
}

describe("secrets at rest and through the API", () => {
  it("store only ciphertext, list metadata, and answer values only with the permission", async () => {
    const c = await plane();
    const first = await put(c, "db-password", `${MARKER}-1`);
    expect(first.version.version).toBe(1);
    expect((await put(c, "db-password", `${MARKER}-2`)).version.version).toBe(2);
    const list = await expectJson<{ secrets: { name: string; latest: number; versions: number; bytes: number }[] }>(await c.call("GET", "/v1/namespaces/default/secrets"));
    expect(list.secrets).toEqual([expect.objectContaining({ name: "db-password", latest: 2, versions: 2, bytes: MARKER.length + 2 })]);
    const versions = await c.call("GET", "/v1/namespaces/default/secrets/db-password/versions");
    const versionsText = await versions.clone().text();
    expect((await expectJson<{ versions: { version: number }[] }>(versions)).versions.map((v) => v.version)).toEqual([2, 1]);
    expect(versionsText + JSON.stringify(list)).not.toContain(MARKER);

    // Operators and viewers cannot read values; a token with secret-values can, and so can admins.
    const operator = await c.token({ default: "operator" });
    await expectProblem(await c.call("GET", "/v1/namespaces/default/secrets/db-password/value", { token: operator }), 403, "forbidden");
    const issued = await expectJson<{ token: string }>(await c.call("POST", "/v1/tokens", { body: { subject: "ci", roles: { default: "viewer" }, permissions: ["secret-values"] } }), 201);
    const read = await c.call("GET", "/v1/namespaces/default/secrets/db-password/value?version=1", { token: issued.token });
    expect(read.headers.get("cache-control")).toBe("no-store");
    const value = await expectJson<{ value: string; version: number }>(read);
    expect(atob(value.value)).toBe(`${MARKER}-1`);
    const latest = await expectJson<{ value: string; version: number }>(await c.call("GET", "/v1/namespaces/default/secrets/db-password/value"));
    expect([atob(latest.value), latest.version]).toEqual([`${MARKER}-2`, 2]);

    // Audit rows name the secret and version, never the value; the database holds no plaintext.
    const audit = await auditRows(c);
    expect(audit.filter((a) => a.action === "secret.put").map((a) => JSON.parse(a.detail ?? "null") as unknown)).toEqual([expect.objectContaining({ version: 1 }), expect.objectContaining({ version: 2 })]);
    expect(audit.some((a) => a.action === "secret.read")).toBe(true);
    expect(JSON.stringify(audit)).not.toContain(MARKER);
    expect(dataDirText(c.dir)).not.toContain(MARKER);
    const row = await c.store.client.execute("SELECT ciphertext, key_id FROM secrets LIMIT 1");
    expect(String(row.rows[0]?.["key_id"])).toMatch(/^k/);
  });

  it("refuse bad input with field paths and change nothing", async () => {
    const c = await plane();
    const bad = [
      { value: "x".repeat(65_537) },
      { value: "not base64!", encoding: "base64" },
      { value: 3 },
      { value: "ok", extra: true },
    ];
    for (const body of bad) {
      const problem = await expectProblem(await c.call("PUT", "/v1/namespaces/default/secrets/db-password", { body }), 400);
      expect(JSON.stringify(problem)).toMatch(/value|extra/);
    }
    await expectProblem(await c.call("PUT", "/v1/namespaces/default/secrets/Bad_Name", { body: { value: "x" } }), 400);
    await expectProblem(await c.call("PUT", "/v1/namespaces/nowhere/secrets/db", { body: { value: "x" } }), 404);
    const viewer = await c.token({ default: "viewer" });
    await expectProblem(await c.call("PUT", "/v1/namespaces/default/secrets/db", { body: { value: "x" }, token: viewer }), 403);
    const rows = await c.store.client.execute("SELECT count(*) AS n FROM secrets");
    expect(Number(rows.rows[0]?.["n"])).toBe(0);
  });

  it("are off without a key: puts are refused with a clear problem", async () => {
    const c = await plane(null);
    const problem = await expectProblem(await c.call("PUT", "/v1/namespaces/default/secrets/db", { body: { value: "x" } }), 409, "secrets-off");
    expect(problem.detail).toContain("LEASEHOLD_SECRETS_KEY");
  });
});

describe("secrets in jobs", () => {
  it("an apply naming a missing secret, version or bad template is refused at its field", async () => {
    const c = await plane();
    let p = await expectProblem(await c.call("POST", "/v1/jobs", { body: job() }), 400);
    expect(p.errors?.map((e) => e.path)).toEqual(expect.arrayContaining(["secrets.0.name", "secrets.1.name"]));
    await put(c, "db-password", "pw");
    await put(c, "api-key", "k");
    p = await expectProblem(await c.call("POST", "/v1/jobs", { body: job({ secrets: [{ name: "db-password", version: 9, file: "/run/secrets/db" }] }) }), 400);
    expect(p.errors?.[0]).toMatchObject({ path: "secrets.0.name", message: expect.stringContaining("no version 9") });
    p = await expectProblem(await c.call("POST", "/v1/jobs", { body: job({ config: [{ file: "/etc/a", content: "{{ secret db }}" }] }) }), 400);
    expect(p.errors?.[0]?.path).toBe("config.0.content");
    p = await expectProblem(await c.call("POST", "/v1/jobs", { body: job({ secrets: [{ name: "api-key", env: "API_KEY", file: "/x" }] }) }), 400);
    expect(p.errors?.[0]?.path).toBe("secrets.0.file");
    p = await expectProblem(await c.call("POST", "/v1/jobs", { body: job({ env: { API_KEY: "plain" } }) }), 400);
    expect(p.errors?.[0]?.path).toBe("secrets.1.env");
    p = await expectProblem(await c.call("POST", "/v1/jobs", { body: job({ config: [{ file: "/run/secrets/db-password", content: "x" }] }) }), 400);
    expect(p.errors?.[0]?.path).toBe("config.0.file");
    p = await expectProblem(await c.call("POST", "/v1/jobs", { body: job({ config: [{ file: "/proc/x", content: "x" }] }) }), 400);
    expect(p.errors?.[0]?.path).toBe("config.0.file");
    const jobs = await c.store.client.execute("SELECT count(*) AS n FROM jobs");
    expect(Number(jobs.rows[0]?.["n"])).toBe(0);
  });

  it("a claim seals the task's files and env to the claiming node; the lease and spec hold names only", async () => {
    const c = await plane();
    await put(c, "db-password", MARKER);
    await put(c, "api-key", `${MARKER}-key`);
    const keysA = await generateNodeKeyPair();
    const keysB = await generateNodeKeyPair();
    const a = await agentWithKey(c, "node-a", keysA, "eu");
    await expectJson(await c.call("POST", "/v1/jobs", { body: job() }));
    await c.settled();
    const claimRes = await c.app.request("/v1/agent/claim", { method: "POST", headers: { authorization: `Bearer ${a.credential}`, "content-type": "application/json" }, body: "{}" });
    const claimText = await claimRes.text();
    expect(claimRes.status).toBe(200);
    expect(claimText).not.toContain(MARKER);
    const grant = (JSON.parse(claimText) as ClaimResponse).leases[0]!;
    expect(grant.task).toMatchObject({ sealed: true, secrets: [{ name: "db-password", version: 1, file: "/run/secrets/db-password", mode: 0o400 }, { name: "api-key", version: 1, env: "API_KEY" }], config: [{ file: "/etc/app/app.conf", mode: 0o444 }] });
    expect(grant.sealed).toBeDefined();
    const ph = await payloadHash(grant.task);
    const opened = await openSealed(keysA.privateJwk, grant.sealed!, { taskId: grant.taskId, ph }, jwks(c.keys));
    expect(opened.env).toEqual({ API_KEY: `${MARKER}-key` });
    const files = Object.fromEntries(opened.files.map((f) => [f.path, { mode: f.mode, text: "data" in f ? atob(f.data) : f.segments }]));
    expect(files).toEqual({
      "/run/secrets/db-password": { mode: 0o400, text: MARKER },
      "/etc/app/app.conf": { mode: 0o444, text: `job=api slot=0 node=node-a region=eu\npassword=${MARKER}\n` },
    });
    // Another node's key does not open it.
    await expect(openSealed(keysB.privateJwk, grant.sealed!, { taskId: grant.taskId, ph }, jwks(c.keys))).rejects.toThrow(/do not open/);

    // Nothing an operator reads holds a value: the job, its versions, events, the audit trail, the database.
    const reads = await Promise.all(["/v1/namespaces/default/jobs/api", "/v1/namespaces/default/jobs/api/versions", "/v1/namespaces/default/jobs/api/events", "/v1/namespaces/default/deployments"].map((p) => c.call("GET", p).then((r) => r.text())));
    expect(reads.join("\n")).not.toContain(MARKER);
    expect(JSON.stringify(await auditRows(c))).not.toContain(MARKER);
    expect(dataDirText(c.dir)).not.toContain(MARKER);
  });

  it("a template reading an upstream the job does not declare is refused at its field, naming the upstreams it does", async () => {
    const c = await plane();
    await put(c, "db-password", "pw");
    await put(c, "api-key", "k");
    const reading = (service: string) => [{ file: "/etc/app/app.conf", content: "x" }, { file: "/etc/app/up.conf", content: `backend = {{ upstream "${service}" }}\n` }];
    const upstreams = [{ service: "web", port: 9000 }, { service: "cache", port: 9001 }];
    let p = await expectProblem(await c.call("POST", "/v1/jobs", { body: job({ upstreams, config: reading("db") }) }), 400);
    expect(p.errors).toEqual([{ path: "config.1.content", message: '{{ upstream "db" }} is not an upstream of this job: its upstreams are web, cache' }]);
    p = await expectProblem(await c.call("POST", "/v1/jobs", { body: job({ config: reading("web") }) }), 400);
    expect(p.errors).toEqual([{ path: "config.1.content", message: '{{ upstream "web" }} is not an upstream of this job: it declares none' }]);
    expect(Number((await c.store.client.execute("SELECT count(*) AS n FROM jobs")).rows[0]?.["n"])).toBe(0);

    // Declared, it is taken; reading another of them is a new version like any template change.
    expect((await expectJson<{ job: { version: number } }>(await c.call("POST", "/v1/jobs", { body: job({ upstreams, config: reading("web") }) }))).job.version).toBe(1);
    expect((await expectJson<{ job: { version: number } }>(await c.call("POST", "/v1/jobs", { body: job({ upstreams, config: reading("web") }) }))).job.version).toBe(1);
    expect((await expectJson<{ job: { version: number } }>(await c.call("POST", "/v1/jobs", { body: job({ upstreams, config: reading("cache") }) }))).job.version).toBe(2);
  });

  it("a config file reading an upstream is sealed as segments for the agent to finish; a secret's value in it is never parsed", async () => {
    const c = await plane();
    // A value that reads like holes: it must reach the file as these very characters.
    const tricky = `{{ upstream "web" }}{{ secret "api-key" }}${MARKER}`;
    await put(c, "db-password", tricky);
    await put(c, "api-key", "k");
    const keys = await generateNodeKeyPair();
    const a = await agentWithKey(c, "node-a", keys, "eu");
    const config = [
      { file: "/etc/app/app.conf", content: 'password = {{ secret "db-password" }}\nbackend = {{ upstream "web" }}\n' },
      { file: "/etc/app/plain.conf", content: 'slot {{ slot }} to {{upstream "web"}}' },
      { file: "/etc/app/none.conf", content: "no upstream here" },
    ];
    await expectJson(await c.call("POST", "/v1/jobs", { body: job({ upstreams: [{ service: "web", port: 9000 }], config }) }));
    await c.settled();
    const grant = (await a.claim()).leases[0]!;
    expect(grant.task.config).toEqual(config.map((f) => ({ file: f.file, mode: 0o444 })));
    const opened = await openSealed(keys.privateJwk, grant.sealed!, { taskId: grant.taskId, ph: await payloadHash(grant.task) }, jwks(c.keys));
    expect(opened.files.filter((f) => f.path.startsWith("/etc/"))).toEqual([
      { path: "/etc/app/app.conf", mode: 0o444, segments: [{ text: `password = ${tricky}\nbackend = ` }, { upstream: "web" }, { text: "\n" }] },
      { path: "/etc/app/plain.conf", mode: 0o444, segments: [{ text: "slot 0 to " }, { upstream: "web" }] },
      { path: "/etc/app/none.conf", mode: 0o444, data: btoa("no upstream here") },
    ]);
  });

  it("a node that registered its key later gets sealed grants; one with none gets the grant without them", async () => {
    const c = await plane();
    await put(c, "db-password", "pw");
    await put(c, "api-key", "k");
    const fetcher: Fetcher = async (path, init) => c.app.request(path, init);
    const { token } = await expectJson<{ token: string }>(await c.call("POST", "/v1/join-tokens", { body: {} }), 201);
    const bare = new HollowAgent(fetcher, "node-old", {});
    await bare.enroll(token);
    await bare.heartbeat();
    await expectJson(await c.call("POST", "/v1/jobs", { body: job() }));
    await c.settled();
    expect((await bare.claim()).leases[0]?.sealed).toBeUndefined();
    const keys = await generateNodeKeyPair();
    const reg = await c.app.request("/v1/agent/encryption-key", { method: "PUT", headers: { authorization: `Bearer ${bare.credential}`, "content-type": "application/json" }, body: JSON.stringify({ key: keys.publicJwk }) });
    expect(((await expectJson<{ kid: string }>(reg)).kid)).toBe(keys.publicJwk.kid);
    const grant = (await bare.claim()).leases[0]!;
    expect((await openSealed(keys.privateJwk, grant.sealed!, { taskId: grant.taskId, ph: await payloadHash(grant.task) }, jwks(c.keys))).env).toEqual({ API_KEY: "k" });
    const badKey = await c.app.request("/v1/agent/encryption-key", { method: "PUT", headers: { authorization: `Bearer ${bare.credential}`, "content-type": "application/json" }, body: JSON.stringify({ key: { ...keys.publicJwk, d: "private" } }) });
    await expectProblem(badKey, 400);
  });
});

describe("rotation is a rollout", () => {
  async function deploymentOf(c: TestControlPlane, id: string) {
    return expectJson<{ version: number; cause?: unknown; events: { type: string; message: string }[] }>(await c.call("GET", `/v1/namespaces/default/deployments/${id}`));
  }

  it("a new version rolls the jobs that follow it, not pinned ones; --no-rollout stages it for the next apply", async () => {
    const c = await plane();
    await put(c, "db-password", "v1");
    await put(c, "api-key", "k");
    await expectJson(await c.call("POST", "/v1/jobs", { body: job() }));
    await expectJson(await c.call("POST", "/v1/jobs", { body: job({ name: "pinned", secrets: [{ name: "db-password", version: 1, file: "/run/secrets/db" }], config: [] }) }));
    const rolled = await put(c, "db-password", "v2");
    expect(rolled.rollouts).toEqual([{ job: "default/api", version: 2, deploymentId: expect.any(String) }]);
    const d = await deploymentOf(c, rolled.rollouts[0]!.deploymentId!);
    expect(d.events.find((e) => e.type === "deployment.started")?.message).toBe("version 1 to 2 (secret db-password version 2)");
    expect(d.cause).toEqual({ secret: "db-password", version: 2 });
    const versions = await c.store.client.execute("SELECT job_id, version, secret_versions FROM job_versions ORDER BY job_id, version");
    expect(versions.rows.map((r) => [r["job_id"], r["version"], JSON.parse(String(r["secret_versions"]))])).toEqual([
      ["default/api", 1, { "db-password": 1, "api-key": 1 }],
      ["default/api", 2, { "db-password": 2, "api-key": 1 }],
      ["default/pinned", 1, { "db-password": 1 }],
    ]);
    // Staged: stored, nothing rolled; the plan shows the version an apply would take; the apply rolls it.
    expect((await put(c, "db-password", "v3", { rollout: false })).rollouts).toEqual([]);
    await c.tick();
    expect(Number((await c.store.client.execute("SELECT version FROM jobs WHERE id = 'default/api'")).rows[0]?.["version"])).toBe(2);
    const plan = await expectJson<{ change: string; diff: { path: string }[] }>(await c.call("POST", "/v1/jobs/plan", { body: job() }));
    expect(plan.change).toBe("version");
    expect(plan.diff.map((x) => x.path)).toContain("secretVersions.db-password");
    const applied = await expectJson<{ job: { version: number } }>(await c.call("POST", "/v1/jobs", { body: job() }));
    expect(applied.job.version).toBe(3);
  });

  it("a rotation a put left owed is rolled by the next sweep, once", async () => {
    const c = await plane();
    await put(c, "db-password", "v1");
    await put(c, "api-key", "k");
    await expectJson(await c.call("POST", "/v1/jobs", { body: job() }));
    // A put that stored its version and stopped before rolling anything (the process died).
    const sealed = await c.store.client.execute("SELECT ciphertext, iv, key_id FROM secrets WHERE name = 'db-password'");
    const r = sealed.rows[0]!;
    await c.store.client.execute({ sql: "INSERT INTO secrets (namespace, name, version, ciphertext, iv, key_id, bytes, rollout, created_by, created_at) VALUES ('default', 'db-password', 2, ?, ?, ?, 2, 1, 't', 0)", args: [String(r["ciphertext"]), String(r["iv"]), String(r["key_id"])] });
    await c.tick();
    await c.tick();
    const rows = await c.store.client.execute("SELECT d.version, d.cause FROM deployments d WHERE job_id = 'default/api' ORDER BY version");
    expect(rows.rows.map((x) => [x["version"], x["cause"] ? JSON.parse(String(x["cause"])) : null])).toEqual([
      [1, null],
      [2, { secret: "db-password", version: 2 }],
    ]);
  });

  it("delete is refused while a running job uses the secret", async () => {
    const c = await plane();
    await put(c, "db-password", "v1");
    await put(c, "api-key", "k");
    await expectJson(await c.call("POST", "/v1/jobs", { body: job() }));
    const p = await expectProblem(await c.call("DELETE", "/v1/namespaces/default/secrets/db-password"), 409);
    expect(p.detail).toContain("api");
    await expectJson(await c.call("POST", "/v1/namespaces/default/jobs/api/stop", { body: {} }));
    expect(await expectJson(await c.call("DELETE", "/v1/namespaces/default/secrets/db-password"))).toEqual({ deleted: "db-password", versions: 1 });
    await expectProblem(await c.call("DELETE", "/v1/namespaces/default/secrets/db-password"), 404);
    expect((await auditRows(c)).filter((a) => a.action === "secret.delete")).toHaveLength(1);
  });
});

describe("master keys", () => {
  it("rekey moves every value to the first key and keeps every value", async () => {
    const c = await plane(KEY_A);
    const values = Array.from({ length: 5 }, (_, i) => `${MARKER}-${i}`);
    for (const v of values) await put(c, `s${values.indexOf(v)}`, v);
    const dir = c.dir;
    c.close();
    cp = undefined;
    // Restart with the new key first and the old one after it: both decrypt, the new one encrypts.
    const d = await plane(`${KEY_B},${KEY_A}`, dir);
    const ring = await parseKeyring(`${KEY_B},${KEY_A}`);
    const r = await expectJson<{ keyId: string; rekeyed: number; total: number }>(await d.call("POST", "/v1/secrets/rekey"));
    expect(r).toEqual({ keyId: ring.active!.id, rekeyed: 5, total: 5 });
    // Only the new key now: every value still reads back.
    await expect(checkKeyring(d.store.client, await parseKeyring(KEY_B))).resolves.toBeUndefined();
    for (const [i, v] of values.entries()) {
      const got = await expectJson<{ value: string }>(await d.call("GET", `/v1/namespaces/default/secrets/s${i}/value`));
      expect(atob(got.value)).toBe(v);
    }
    await expect(checkKeyring(d.store.client, await parseKeyring(KEY_A))).rejects.toThrow(/does not hold/);
  });

  it("a wrong, malformed or missing key fails the start with a clear message", async () => {
    const c = await plane(KEY_A);
    await put(c, "db", "x");
    const dir = c.dir;
    c.close();
    cp = undefined;
    await expect(startNodeServer({ dataDir: dir, secretsKey: KEY_B, sweep: false })).rejects.toThrow(/encrypted under k\S+ \(1 values\), which LEASEHOLD_SECRETS_KEY does not hold/);
    await expect(startNodeServer({ dataDir: dir, sweep: false })).rejects.toThrow(/it is not set/);
    await expect(startNodeServer({ dataDir: dir, secretsKey: "c2hvcnQ=", sweep: false })).rejects.toThrow(/key 1 of 1 is not 32 bytes/);
    const ok = await startNodeServer({ dataDir: dir, secretsKey: KEY_A, sweep: false });
    await ok.close();
  });
});
