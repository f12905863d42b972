// Secrets inside workerd, through the real Worker entry with a LEASEHOLD_SECRETS_KEY binding, against a
// database of their own (LIBSQL_SECRETS_URL): a value put over the API reaches the claiming node only
// sealed to its X25519 key (made and opened with WebCrypto in workerd), never in a read; and once a
// secret is stored, a Worker holding another key refuses every request as misconfigured.
import { env } from "cloudflare:workers";
import { createClient } from "@libsql/client/web";
import { describe, expect, it } from "vitest";
import type { ClaimResponse } from "../../api/agent-protocol.ts";
import { payloadHash } from "../../api/payload-hash.ts";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import { generateNodeKeyPair, openSealed } from "../../api/sealed.ts";
import { HollowAgent } from "../../bench/hollow-agent.ts";
import { createStore } from "../../db/store.ts";
import { generateSigningKey } from "../../worker/auth/keys.ts";
import { bootstrap } from "../../worker/bootstrap.ts";
import { systemClock } from "../../worker/clock.ts";
import worker, { type Env } from "../../worker/index.ts";

const ctx = { waitUntil: (_p: Promise<unknown>) => {}, passThroughOnException: () => {}, props: {} };
const MARKER = `marker-${crypto.randomUUID()}`;
// 32 bytes of 0x07: a key the stored secrets were not written under.
const WRONG_KEY = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));

const { keys, privateJwk } = await generateSigningKey();
const workerEnv = (overrides: Partial<Env> = {}): Env => ({
  LIBSQL_URL: env.LIBSQL_SECRETS_URL,
  LEASEHOLD_SIGNING_KEY: JSON.stringify(privateJwk),
  LEASEHOLD_SECRETS_KEY: env.LEASEHOLD_SECRETS_KEY,
  ...overrides,
});
const token = await bootstrap(createStore(createClient({ url: env.LIBSQL_SECRETS_URL })), keys, systemClock, 3_600_000);
if (token === null) throw new Error("the secrets database was bootstrapped before this file ran");

function send(path: string, init: RequestInit = {}, e: Env = workerEnv()): Promise<Response> {
  return worker.fetch(new Request(`https://leasehold.test${path}`, init) as never, e, ctx as never) as unknown as Promise<Response>;
}
function call(method: string, path: string, body?: unknown, e?: Env): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) };
  return send(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }, e);
}
async function text(res: Response, status = 200): Promise<string> {
  const body = await res.text();
  expect(res.status, body).toBe(status);
  return body;
}

// The tests share the one secrets database and run in order: the second needs the secret the first put.
describe("secrets through the Worker entry in workerd", () => {
  it("a secret put over the API reaches the claiming node sealed to its key, and no read holds it", async () => {
    const put = JSON.parse(await text(await call("PUT", "/v1/namespaces/default/secrets/db-password", { value: MARKER }), 201)) as { version: { version: number } };
    expect(put.version.version).toBe(1);

    const nodeKeys = await generateNodeKeyPair();
    expect(nodeKeys.publicJwk).toMatchObject({ kty: "OKP", crv: "X25519" });
    const joined = JSON.parse(await text(await call("POST", "/v1/join-tokens", {}), 201)) as { token: string };
    // A mesh key too: the Worker signs the node's certificate (Ed25519 through WebCrypto, as on Node).
    const meshKey = await exportJWK((await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true })).publicKey);
    const mesh = { key: { kty: "OKP" as const, crv: "Ed25519" as const, x: String(meshKey.x) }, port: 7701 };
    const agent = new HollowAgent((path, init) => send(path, init), "vault-1", { region: "vault", encryptionKey: nodeKeys.publicJwk, mesh });
    const enrolled = await agent.enroll(joined.token);
    expect(enrolled.mesh?.certificate).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    // The CA certificate is built from the signing key alone: the same on every request (and instance).
    expect((await agent.heartbeat({ mesh })).mesh?.ca).toBe(enrolled.mesh?.ca);

    const job = {
      name: "vault",
      image: "leasehold-test/busybox:latest",
      resources: { cpu: 100, memory: 32 },
      constraints: [{ attribute: "region", value: "vault" }],
      secrets: [{ name: "db-password", file: "/run/secrets/db-password" }],
      config: [
        { file: "/etc/app/app.conf", content: 'node={{ node }} slot={{ slot }}\npassword={{ secret "db-password" }}\n' },
        { file: "/etc/app/backend.conf", content: 'backend={{ upstream "web" }}\n' },
      ],
      upstreams: [{ service: "web", port: 9000 }],
    };
    const applied = JSON.parse(await text(await call("POST", "/v1/jobs", job))) as { evaluation: { placed: number } };
    expect(applied.evaluation.placed).toBe(1);

    const claimText = await text(await send("/v1/agent/claim", { method: "POST", headers: { authorization: `Bearer ${agent.credential}`, "content-type": "application/json" }, body: "{}" }));
    expect(claimText).not.toContain(MARKER);
    const grant = (JSON.parse(claimText) as ClaimResponse).leases.find((l) => l.task.jobId === "default/vault");
    expect(grant?.task).toMatchObject({ sealed: true, secrets: [{ name: "db-password", version: 1, file: "/run/secrets/db-password", mode: 0o400 }], config: [{ file: "/etc/app/app.conf", mode: 0o444 }, { file: "/etc/app/backend.conf", mode: 0o444 }] });
    expect(grant?.sealed).toEqual(expect.any(String));
    const opened = await openSealed(nodeKeys.privateJwk, grant!.sealed!, { taskId: grant!.taskId, ph: await payloadHash(grant!.task) }, enrolled.jwks as { keys: JWK[] });
    expect(Object.fromEntries(opened.files.map((f) => [f.path, "data" in f ? { mode: f.mode, text: atob(f.data) } : { mode: f.mode, segments: f.segments }]))).toEqual({
      "/run/secrets/db-password": { mode: 0o400, text: MARKER },
      "/etc/app/app.conf": { mode: 0o444, text: `node=vault-1 slot=0\npassword=${MARKER}\n` },
      // The gateway is the agent's to know: the address is left to it.
      "/etc/app/backend.conf": { mode: 0o444, segments: [{ text: "backend=" }, { upstream: "web" }, { text: "\n" }] },
    });
    expect(opened.env).toEqual({});

    const list = await text(await call("GET", "/v1/namespaces/default/secrets"));
    expect(JSON.parse(list)).toEqual({ secrets: [expect.objectContaining({ name: "db-password", latest: 1, bytes: MARKER.length, usedBy: ["vault"] })] });
    const reads = await Promise.all(["/v1/namespaces/default/secrets/db-password/versions", "/v1/namespaces/default/jobs/vault"].map(async (p) => text(await call("GET", p))));
    expect([list, ...reads].join("\n")).not.toContain(MARKER);
  });

  it("once a secret is stored, a Worker with another key, or none, answers every request as misconfigured", async () => {
    for (const secretsKey of [WRONG_KEY, undefined]) {
      const e = workerEnv({ LEASEHOLD_SECRETS_KEY: secretsKey });
      for (const res of [await send("/healthz", {}, e), await call("GET", "/v1/namespaces/default/secrets", undefined, e)]) {
        expect(res.status).toBe(500);
        expect(res.headers.get("content-type")).toContain("application/problem+json");
        const body = await res.text();
        expect((JSON.parse(body) as { type: string }).type).toBe("urn:leasehold:problem:misconfigured");
        expect(body).not.toContain(env.LEASEHOLD_SECRETS_KEY);
        expect(body).not.toContain(WRONG_KEY);
      }
    }
    // A ring that holds the stored values' key behind a new first one (mid-rotation) serves them.
    const rotating = workerEnv({ LEASEHOLD_SECRETS_KEY: `${WRONG_KEY},${env.LEASEHOLD_SECRETS_KEY}` });
    expect((await send("/healthz", {}, rotating)).status).toBe(200);
    const value = JSON.parse(await text(await call("GET", "/v1/namespaces/default/secrets/db-password/value", undefined, rotating))) as { value: string };
    expect(atob(value.value)).toBe(MARKER);
  });
});
