// Sealed task secrets on a real engine, through the supervisor with signed leases: the files and env reach
// the container (files on tmpfs, read-only, with their modes), and the plaintext reaches nothing else — not
// the agent's data dir, not a container label, not a log line. Restarts keep the container and its files;
// a stop takes the files away. A payload that does not open, or files that would not be on tmpfs, fail
// the task before any container is made. A config file that reads an upstream gets the address its env names.
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Dockerode from "dockerode";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TaskSpec } from "../../api/agent-protocol";
import { payloadHash } from "../../api/payload-hash";
import { generateNodeKeyPair, sealFor, type NodeKeyPair, type SealedContent } from "../../api/sealed";
import { createLeaseChecker } from "../../agent/lease-check";
import { createLeaseStore } from "../../agent/lease-store";
import { createLogger } from "../../agent/log";
import { createJobNetworks, createTaskNetworking } from "../../agent/network";
import { createTraffic } from "../../agent/proxy";
import { createDockerRuntime, type ContainerRuntime } from "../../agent/runtime";
import { createSecretFiles, TMPFS_MAGIC } from "../../agent/secret-files";
import { createSupervisor, type Supervisor, type TaskNetworking } from "../../agent/supervisor";
import { createTaskSecrets } from "../../agent/task-secrets";
import { generateSigningKey, jwks, type SigningKeys } from "../../worker/auth/keys";
import { cleanupNode, eventually, requireDocker, testOwner, uniqueNode } from "../support/docker";
import { grantFor, testTaskSpec, type Grant } from "../support/leases";

const SHM = "/dev/shm";

let docker: Dockerode;
let runtime: ContainerRuntime;
let keys: SigningKeys;
let nodeKey: NodeKeyPair;
let node: string;
let dataDir: string;
let secretsDir: string;
/** Every line the supervisors of a test logged, with its fields, as JSON. */
let lines: string[];
const nodeId = randomUUID();
const open: Supervisor[] = [];
/** Listeners the tests opened, closed after each. */
const traffics: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  docker = await requireDocker();
  if (!existsSync(SHM) || statfsSync(SHM).type !== TMPFS_MAGIC) throw new Error(`${SHM} is not a tmpfs on this host: the sealed secrets tests need one`);
  runtime = createDockerRuntime();
  keys = (await generateSigningKey()).keys;
  nodeKey = await generateNodeKeyPair();
});

beforeEach(() => {
  node = uniqueNode("sealed");
  dataDir = mkdtempSync(join(tmpdir(), "leasehold-sealed-data-"));
  secretsDir = mkdtempSync(join(SHM, "leasehold-sealed-"));
  lines = [];
});

afterEach(async () => {
  for (const s of open.splice(0)) s.close();
  for (const t of traffics.splice(0)) await t.close();
  await cleanupNode(node, docker);
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(secretsDir, { recursive: true, force: true });
});

/** A supervisor as the agent makes one: leases.json in the data dir, the node key, files under `baseDir`. */
function agentSupervisor(opts: { baseDir?: string; keepExited?: number; networking?: TaskNetworking } = {}): Supervisor {
  const s = createSupervisor({
    runtime,
    checkLease: createLeaseChecker(jwks(keys), nodeId),
    leaseStore: createLeaseStore(dataDir, () => undefined),
    secrets: createTaskSecrets({ privateJwk: nodeKey.privateJwk, trusted: jwks(keys), files: createSecretFiles({ baseDir: opts.baseDir ?? secretsDir, nodeId, warn: () => undefined }) }),
    owner: { cluster: testOwner(node).cluster, nodeId },
    nodeName: node,
    now: () => Date.now(),
    log: createLogger({ level: "debug", sink: (message, fields) => lines.push(JSON.stringify({ message, ...fields })) }),
    reportSoon: () => undefined,
    reconcileAfter: () => undefined,
    ...(opts.keepExited !== undefined ? { keepExited: opts.keepExited } : {}),
    ...(opts.networking ? { networking: opts.networking } : {}),
  });
  open.push(s);
  return s;
}

/** A service that uses a secret file, a config file and a secret env variable: names and versions only. */
function sealedSpec(): TaskSpec {
  return {
    ...testTaskSpec(["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]),
    type: "service",
    env: { PLAIN: "not a secret" },
    sealed: true,
    secrets: [
      { name: "db-password", version: 3, file: "/run/secrets/db-password", mode: 0o400 },
      { name: "api-token", version: 1, env: "API_TOKEN" },
    ],
    config: [{ file: "/etc/app/app.conf", mode: 0o444 }],
  };
}

/** What the control plane would seal for `grant`, each value holding `marker`. */
async function contentFor(grant: Grant, marker: string): Promise<SealedContent> {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  return {
    v: 1,
    taskId: grant.taskId,
    ph: await payloadHash(grant.task),
    files: [
      { path: "/run/secrets/db-password", mode: 0o400, data: b64(`pw-${marker}`) },
      { path: "/etc/app/app.conf", mode: 0o444, data: b64(`listen = 8080\ntoken = conf-${marker}\n`) },
    ],
    env: { API_TOKEN: `tok-${marker}` },
  };
}

/** The node's networking as the agent makes it (job networks, upstream listeners), without DNS. */
function agentNetworking(): TaskNetworking {
  const log = createLogger({ level: "debug", sink: (message, fields) => lines.push(JSON.stringify({ message, ...fields })) });
  const traffic = createTraffic({ caller: { nodeId, region: "eu" }, log });
  traffics.push(traffic);
  const networks = createJobNetworks({ runtime, owner: { cluster: testOwner(node).cluster, nodeId }, nodeName: node, log });
  return createTaskNetworking({ networks, traffic, log });
}

async function exec(containerId: string, cmd: string[]): Promise<{ exitCode: number; output: string }> {
  return runtime.exec(containerId, cmd, { timeoutMs: 5_000 });
}

/** Every file under `dir`, with its content. */
function filesUnder(dir: string): { path: string; text: string }[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => {
      const path = join(e.parentPath, e.name);
      return { path, text: readFileSync(path, "latin1") };
    });
}

/** Reconciles until the first held task reaches `phase`. */
async function until(s: Supervisor, phase: string, what: string): Promise<void> {
  await eventually(async () => {
    await s.reconcile(Date.now());
    return s.held()[0]?.phase === phase ? true : undefined;
  }, 15_000, what);
}

describe("a sealed task", () => {
  it("gets its files (tmpfs, read-only, with their modes) and env in its container, and its secrets go nowhere else; restarts keep them, a stop takes them away", async () => {
    const marker = `m${randomUUID().replaceAll("-", "")}`;
    const spec = sealedSpec();
    const grant = await grantFor(keys, nodeId, spec);
    const sealed = await sealFor(nodeKey.publicJwk, await contentFor(grant, marker), keys);
    const first = agentSupervisor();
    await first.accept([{ ...grant, sealed }]);
    await until(first, "running", "the sealed task to run");
    const containerId = first.held()[0]!.containerId!;

    // In the container: the content, the modes, root's, read-only, on tmpfs; and the env after the spec's.
    expect(await exec(containerId, ["cat", "/run/secrets/db-password"])).toEqual({ exitCode: 0, output: `pw-${marker}` });
    expect((await exec(containerId, ["cat", "/etc/app/app.conf"])).output).toBe(`listen = 8080\ntoken = conf-${marker}\n`);
    expect((await exec(containerId, ["stat", "-c", "%a %u:%g %n", "/run/secrets/db-password", "/etc/app/app.conf"])).output).toBe(
      "400 0:0 /run/secrets/db-password\n444 0:0 /etc/app/app.conf\n",
    );
    expect((await exec(containerId, ["sh", "-c", "echo x >> /etc/app/app.conf"])).exitCode).not.toBe(0);
    expect((await exec(containerId, ["sh", "-c", 'echo "$API_TOKEN $PLAIN"'])).output).toBe(`tok-${marker} not a secret\n`);
    const mounts = (await exec(containerId, ["cat", "/proc/mounts"])).output.split("\n");
    for (const path of ["/run/secrets/db-password", "/etc/app/app.conf"]) {
      const line = mounts.find((l) => l.split(" ")[1] === path);
      expect(line, `${path} in /proc/mounts`).toBeDefined();
      const [, , fsType, options] = line!.split(" ");
      expect(fsType).toBe("tmpfs");
      expect(options?.split(",")).toContain("ro");
    }

    // Nowhere else: no label, nothing in the data dir (leases.json keeps the sealed JWE), no log line.
    const inspected = await docker.getContainer(containerId).inspect();
    expect(JSON.stringify(inspected.Config.Labels)).not.toContain(marker);
    expect(inspected.HostConfig.Mounts?.map((m) => [m.Type, m.Target, m.ReadOnly])).toEqual([
      ["bind", "/run/secrets/db-password", true],
      ["bind", "/etc/app/app.conf", true],
    ]);
    const noMarkerOutsideTheContainer = () => {
      const stored = filesUnder(dataDir);
      expect(stored.map((f) => f.path)).toContain(join(dataDir, "leases.json"));
      for (const f of stored) expect(f.text, f.path).not.toContain(marker);
      for (const line of lines) expect(line).not.toContain(marker);
    };
    noMarkerOutsideTheContainer();
    expect(JSON.parse(readFileSync(join(dataDir, "leases.json"), "utf8"))[grant.taskId].sealed).toBe(sealed);
    const hostDir = join(secretsDir, nodeId, `${grant.taskId}.e1`);
    expect(readdirSync(hostDir).sort()).toEqual(["0-db-password", "1-app.conf"]);

    // The agent restarts while the container runs: it keeps the container, and its files.
    first.close();
    const second = agentSupervisor();
    expect(await second.adopt(Date.now())).toBe(1);
    expect(second.held().map((t) => [t.containerId, t.phase])).toEqual([[containerId, "running"]]);
    expect((await exec(containerId, ["cat", "/run/secrets/db-password"])).output).toBe(`pw-${marker}`);
    expect(readdirSync(hostDir).sort()).toEqual(["0-db-password", "1-app.conf"]);

    // It restarts once more after the tmpfs was emptied: the files are written back from leases.json.
    second.close();
    for (const entry of readdirSync(secretsDir)) rmSync(join(secretsDir, entry), { recursive: true });
    const third = agentSupervisor({ keepExited: 0 });
    expect(await third.adopt(Date.now())).toBe(1);
    expect(third.held().map((t) => t.containerId)).toEqual([containerId]);
    expect(readFileSync(join(hostDir, "0-db-password"), "utf8")).toBe(`pw-${marker}`);
    expect(statSync(join(hostDir, "0-db-password")).mode & 0o777).toBe(0o400);
    expect(statSync(join(hostDir, "1-app.conf")).mode & 0o777).toBe(0o444);
    expect(statSync(hostDir).mode & 0o777).toBe(0o700);
    expect(lines.map((l) => JSON.parse(l) as { message: string; files?: number })).toContainEqual(
      expect.objectContaining({ message: "wrote back a running task's secret files", files: 2 }),
    );
    noMarkerOutsideTheContainer();

    // The task is stopped and its end reported: its container is removed (none kept), and its files go.
    await third.revoke([{ taskId: grant.taskId, epoch: 1, reason: "stopped", detail: "" }]);
    await until(third, "stopped", "the task to stop");
    third.delivered(third.reports());
    expect(third.held()).toEqual([]);
    await eventually(async () => {
      await third.reconcile(Date.now());
      return (await runtime.inspect(containerId)).state === "missing" && !existsSync(hostDir) ? true : undefined;
    }, 15_000, "the container and its files to be gone");
    expect(readdirSync(join(secretsDir, nodeId))).toEqual([]);
    noMarkerOutsideTheContainer();
  });

  it("reads an upstream's address in a config file as the gateway and port its env names; without job networks it fails", async () => {
    const port = 9417;
    const spec: TaskSpec = { ...sealedSpec(), upstreams: [{ service: "web", namespace: "default", port, policy: "round-robin" }] };
    const sealedWithUpstream = async (grant: Grant) => {
      const content = await contentFor(grant, "x");
      content.files[1] = { path: "/etc/app/app.conf", mode: 0o444, segments: [{ text: "backend = " }, { upstream: "web" }, { text: "\n" }] };
      return sealFor(nodeKey.publicJwk, content, keys);
    };
    const s = agentSupervisor({ networking: agentNetworking() });
    const grant = await grantFor(keys, nodeId, spec);
    await s.accept([{ ...grant, sealed: await sealedWithUpstream(grant) }]);
    await until(s, "running", "the task with an upstream to run");
    const [network] = await runtime.listNetworks({ owner: { cluster: testOwner(node).cluster, nodeId } });
    const containerId = s.held()[0]!.containerId!;
    expect((await exec(containerId, ["cat", "/etc/app/app.conf"])).output).toBe(`backend = ${network!.gateway}:${port}\n`);
    expect((await exec(containerId, ["sh", "-c", 'echo "$LEASEHOLD_UPSTREAM_WEB_ADDR"'])).output).toBe(`${network!.gateway}:${port}\n`);

    // An agent restarted after the tmpfs was emptied writes it back with the same address.
    s.close();
    for (const entry of readdirSync(secretsDir)) rmSync(join(secretsDir, entry), { recursive: true });
    const restarted = agentSupervisor({ networking: agentNetworking() });
    expect(await restarted.adopt(Date.now())).toBe(1);
    expect(readFileSync(join(secretsDir, nodeId, `${grant.taskId}.e1`, "1-app.conf"), "utf8")).toBe(`backend = ${network!.gateway}:${port}\n`);

    const bare = agentSupervisor();
    const other = await grantFor(keys, nodeId, spec);
    await bare.accept([{ ...other, sealed: await sealedWithUpstream(other) }]);
    await bare.reconcile(Date.now());
    expect(bare.reports().map((r) => [r.state, r.message])).toEqual([
      ["failed", 'config file /etc/app/app.conf reads the address of upstream "web", but this agent serves no upstreams (it runs without job networks)'],
    ]);
  });

  it("whose payload was sealed to another node's key, for another task, or not sent at all, fails without a container", async () => {
    const s = agentSupervisor();
    const other = await generateNodeKeyPair();
    const toOtherNode = await grantFor(keys, nodeId, sealedSpec());
    const forAnotherTask = await grantFor(keys, nodeId, sealedSpec());
    const withoutIt = await grantFor(keys, nodeId, sealedSpec());
    const marker = `m${randomUUID().replaceAll("-", "")}`;
    await s.accept([
      { ...toOtherNode, sealed: await sealFor(other.publicJwk, await contentFor(toOtherNode, marker), keys) },
      { ...forAnotherTask, sealed: await sealFor(nodeKey.publicJwk, await contentFor(toOtherNode, marker), keys) },
      withoutIt,
    ]);
    await s.reconcile(Date.now());
    const reports = new Map(s.reports().map((r) => [r.lease, r]));
    expect([toOtherNode, forAnotherTask, withoutIt].map((g) => [reports.get(g.lease)?.state, reports.get(g.lease)?.message])).toEqual([
      ["failed", "the task's sealed secrets do not open with this node's key"],
      ["failed", "the task's sealed secrets were sealed for another task or payload"],
      ["failed", "the task's sealed secrets did not come with its lease"],
    ]);
    expect(await runtime.list({ owner: { cluster: testOwner(node).cluster, nodeId }, all: true })).toEqual([]);
    expect(readdirSync(secretsDir)).toEqual([]);
    for (const line of lines) expect(line).not.toContain(marker);
  });

  it("whose files would not be on tmpfs fails without a container, and nothing is written there", async () => {
    const onDisk = mkdtempSync(join(tmpdir(), "leasehold-sealed-disk-"));
    try {
      if (statfsSync(onDisk).type === TMPFS_MAGIC) throw new Error(`${tmpdir()} is on tmpfs here: this test needs a disk-backed temp dir`);
      const s = agentSupervisor({ baseDir: onDisk });
      const grant = await grantFor(keys, nodeId, sealedSpec());
      await s.accept([{ ...grant, sealed: await sealFor(nodeKey.publicJwk, await contentFor(grant, "x"), keys) }]);
      await s.reconcile(Date.now());
      const [report] = s.reports();
      expect(report?.state).toBe("failed");
      expect(report?.message).toMatch(/^.*leasehold-sealed-disk-.* is not on tmpfs: secret files are written to memory only, never to disk/);
      expect(await runtime.list({ owner: { cluster: testOwner(node).cluster, nodeId }, all: true })).toEqual([]);
      expect(readdirSync(onDisk)).toEqual([]);
    } finally {
      rmSync(onDisk, { recursive: true, force: true });
    }
  });
});
