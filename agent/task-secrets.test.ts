// Opening a sealed payload and writing its files: a config file sealed as segments gets its upstreams'
// addresses as it is written (and written back), and none is made up when the agent serves no upstreams.
import { existsSync, mkdtempSync, readFileSync, rmSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TaskSpec } from "../api/agent-protocol";
import { payloadHash } from "../api/payload-hash";
import { generateNodeKeyPair, sealFor, type NodeKeyPair, type SealedContent, type SealSigner } from "../api/sealed";
import { createSecretFiles, TMPFS_MAGIC } from "./secret-files";
import { createTaskSecrets, TaskSecretsError, type SealedTask, type TaskSecrets } from "./task-secrets";

const SHM = "/dev/shm";
const GATEWAY_ADDR = "172.18.0.1:9000";

let nodeKey: NodeKeyPair;
let signer: SealSigner;
let trusted: { keys: JWK[] };
let shm: string;

beforeAll(async () => {
  nodeKey = await generateNodeKeyPair();
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  signer = { privateKey: privateKey as CryptoKey, kid: "cp-1" };
  trusted = { keys: [{ ...(await exportJWK(publicKey)), kid: "cp-1", alg: "EdDSA" }] };
});
beforeEach(() => {
  if (!existsSync(SHM) || statfsSync(SHM).type !== TMPFS_MAGIC) throw new Error(`${SHM} is not a tmpfs on this host: the task secrets tests need one`);
  shm = mkdtempSync(join(SHM, "leasehold-task-secrets-"));
});
afterEach(() => rmSync(shm, { recursive: true, force: true }));

const spec: TaskSpec = {
  jobId: "default/api",
  namespace: "default",
  job: "api",
  slot: 0,
  version: 1,
  type: "service",
  image: "img",
  env: {},
  resources: { cpu: 100, memory: 64 },
  ports: [],
  restart: { mode: "always", attempts: 3, intervalMs: 300_000, delayMs: 1_000 },
  disconnect: { policy: "keep", afterMs: 60_000 },
  stopGraceMs: 10_000,
  sealed: true,
  config: [
    { file: "/etc/app/backend.conf", mode: 0o444 },
    { file: "/etc/app/plain.conf", mode: 0o444 },
  ],
  upstreams: [{ service: "web", namespace: "default", port: 9000, policy: "round-robin" }],
};

/** A secret's value that reads like holes: it was rendered on the control plane and is only text here. */
const TRICKY = '{{ upstream "web" }}{{ secret "x" }}';

/** The task, with what the control plane seals for it: one file as segments, one as data. */
async function sealedTask(): Promise<SealedTask> {
  const ph = await payloadHash(spec);
  const content: SealedContent = {
    v: 1,
    taskId: "task-1",
    ph,
    files: [
      { path: "/etc/app/backend.conf", mode: 0o444, segments: [{ text: `password = ${TRICKY}\nbackend = ` }, { upstream: "web" }, { text: "\n" }] },
      { path: "/etc/app/plain.conf", mode: 0o444, data: Buffer.from("plain").toString("base64") },
    ],
    env: {},
  };
  return { taskId: "task-1", epoch: 1, ph, spec, sealed: await sealFor(nodeKey.publicJwk, content, signer) };
}

function taskSecrets(): TaskSecrets {
  return createTaskSecrets({ privateJwk: nodeKey.privateJwk, trusted, files: createSecretFiles({ baseDir: shm, nodeId: "node-1", warn: () => undefined }) });
}

describe("a config file that reads an upstream", () => {
  it("is written with the address the task's env names, and a secret's value in it stays as it came", async () => {
    const secrets = taskSecrets();
    const task = await sealedTask();
    const mounts = secrets.place(task, await secrets.open(task), new Map([["web", GATEWAY_ADDR]]));
    expect(mounts.map((m) => m.target)).toEqual(["/etc/app/backend.conf", "/etc/app/plain.conf"]);
    expect(readFileSync(mounts[0]!.source, "utf8")).toBe(`password = ${TRICKY}\nbackend = ${GATEWAY_ADDR}\n`);
    expect(readFileSync(mounts[1]!.source, "utf8")).toBe("plain");
  });

  it("fails the start, saying why, when the agent serves no upstreams or the task does not declare it", async () => {
    const secrets = taskSecrets();
    const task = await sealedTask();
    const opened = await secrets.open(task);
    expect(() => secrets.place(task, opened, undefined)).toThrow(TaskSecretsError);
    expect(() => secrets.place(task, opened, undefined)).toThrow('config file /etc/app/backend.conf reads the address of upstream "web", but this agent serves no upstreams (it runs without job networks)');
    expect(() => secrets.place(task, opened, new Map([["cache", GATEWAY_ADDR]]))).toThrow('upstream "web", which the task does not declare');
    // Nothing was written: the container directory was never made.
    expect(existsSync(join(shm, "node-1", "task-1.e1"))).toBe(false);
  });

  it("is written back with the address asked for then; a payload without one does not ask", async () => {
    const secrets = taskSecrets();
    const task = await sealedTask();
    const [backend] = secrets.place(task, await secrets.open(task), new Map([["web", GATEWAY_ADDR]]));
    rmSync(backend!.source);
    let asked = 0;
    const addresses = async () => {
      asked++;
      return new Map([["web", GATEWAY_ADDR]]);
    };
    expect(await secrets.restore(task, addresses)).toBe(1);
    expect(readFileSync(backend!.source, "utf8")).toBe(`password = ${TRICKY}\nbackend = ${GATEWAY_ADDR}\n`);
    expect(asked).toBe(1);

    const plainSpec: TaskSpec = { ...spec, config: [{ file: "/etc/app/plain.conf", mode: 0o444 }] };
    const ph = await payloadHash(plainSpec);
    const content: SealedContent = { v: 1, taskId: "task-2", ph, files: [{ path: "/etc/app/plain.conf", mode: 0o444, data: Buffer.from("plain").toString("base64") }], env: {} };
    const plain = { taskId: "task-2", epoch: 1, ph, spec: plainSpec, sealed: await sealFor(nodeKey.publicJwk, content, signer) };
    expect(await secrets.restore(plain, addresses)).toBe(1);
    expect(asked).toBe(1);
  });
});
