// Job networks, upstreams and ingress with real containers, through runAgent against a stand-in control
// plane. It hands out the leases of two web backends (busybox httpd, each serving its own slot), a client
// with an upstream of the web service, and a container of another job; it answers heartbeats with the
// web service's endpoints built from the tasks' own reports (their published host ports), and with the
// ingress listeners it is told to run. Nothing is mocked below the agent: the proxy, the networks and the
// isolation between them are the engine's and the kernel's.
import type { AddressInfo } from "node:net";
import { createServer as createTcpServer } from "node:net";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Dockerode from "dockerode";
import type { JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import type { HeartbeatRequest, TaskReport, TaskSpec } from "../../api/agent-protocol";
import { serviceKey, type Endpoint, type IngressListener, type ServiceSnapshot } from "../../api/services";
import { detectAdvertise } from "../../agent/advertise";
import { runAgent, type RunningAgent } from "../../agent/run";
import { createDockerRuntime, LABELS, nodeSelector } from "../../agent/runtime";
import { generateSigningKey, jwks, type SigningKeys } from "../../worker/auth/keys";
import { startStandIn } from "../support/stand-in";
import { cleanupNode, eventually, requireDocker, uniqueNode } from "../support/docker";
import { grantFor, testTaskSpec, type Grant } from "../support/leases";

const TIMING = { heartbeatIntervalMs: 100, leaseTtlMs: 30_000 };
const UPSTREAM_PORT = 9000;

let docker: Dockerode;
let keys: SigningKeys;
let signingJwks: { keys: JWK[] };
const runtime = createDockerRuntime();
const cleanup: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  docker = await requireDocker();
  keys = (await generateSigningKey()).keys;
  signingJwks = jwks(keys);
});
afterAll(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A control plane that hands over `grants` and serves the endpoint sets and ingress listeners a test sets. */
async function standIn(nodeId: string, grants: Grant[]) {
  const held = new Map(grants.map((g) => [g.taskId, g]));
  const taskOfLease = new Map(grants.map((g) => [g.lease, g.taskId]));
  const reports = new Map<string, TaskReport>();
  const unhealthy = new Set<string>();
  const stopping = new Set<string>();
  const indexes = new Map<string, number>();
  let ingress: { index: number; listeners: IngressListener[] } = { index: 0, listeners: [] };
  let lastHeartbeat: HeartbeatRequest | undefined;
  let enrollBody: Record<string, unknown> | undefined;
  let advertise: Endpoint["addresses"] = [];

  /** The web service as its tasks last reported: running ones with their published port, healthy unless told. */
  function webSnapshot(): ServiceSnapshot {
    const endpoints: Endpoint[] = [];
    for (const g of held.values()) {
      if (g.task.job !== "web") continue;
      const report = reports.get(g.taskId);
      const port = report?.hostPorts?.find((p) => p.container === 80)?.host;
      if (report?.state !== "running" || port === undefined) continue;
      endpoints.push({
        taskId: g.taskId,
        jobId: g.task.jobId,
        slot: g.task.slot,
        version: g.task.version,
        nodeId,
        nodeName: "here",
        region: "eu",
        addresses: advertise,
        meshPort: null,
        port,
        tags: [],
        healthy: !unhealthy.has(g.taskId),
      });
    }
    endpoints.sort((a, b) => a.slot - b.slot);
    const content = JSON.stringify(endpoints);
    if (!indexes.has(content)) indexes.set(content, indexes.size + 1);
    return { namespace: "default", name: "web", index: indexes.get(content)!, endpoints, callers: [] };
  }

  const stops = () => [...stopping].map((taskId) => ({ taskId, epoch: 1, reason: "stopped" as const, detail: "stopped by the test" }));

  const url = await startStandIn(cleanup, (req, res, given, reply) => {
    const body = given ?? {};
    switch (`${req.method} ${req.url}`) {
      case "POST /v1/agent/enroll":
        enrollBody = body;
        advertise = (body["advertise"] as Endpoint["addresses"] | undefined) ?? [];
        return reply(200, { nodeId, credential: "cred", jwks: signingJwks, clusterId: "stand-in", region: "eu", ...TIMING });
      case "POST /v1/agent/claim": {
        const answer = () => reply(200, { leases: [...held.values()], stops: stops(), ...TIMING });
        const timer = setTimeout(answer, 200);
        res.on("close", () => clearTimeout(timer));
        return;
      }
      case "POST /v1/agent/heartbeat": {
        const hb = body as HeartbeatRequest;
        lastHeartbeat = hb;
        for (const r of hb.tasks ?? []) {
          const taskId = taskOfLease.get(r.lease);
          if (taskId === undefined) continue;
          reports.set(taskId, r);
          if (r.state === "stopped" || r.state === "failed" || r.state === "complete") {
            held.delete(taskId);
            stopping.delete(taskId);
          }
        }
        const web = webSnapshot();
        const wanted = hb.services?.[serviceKey("default", "web")];
        return reply(200, {
          renewed: [],
          revoked: stops(),
          work: false,
          logRequests: [],
          ...(wanted !== undefined && wanted !== web.index ? { services: [web] } : {}),
          ...(hb.ingress !== undefined && hb.ingress !== ingress.index ? { ingress } : {}),
          ...TIMING,
        });
      }
      default:
        return reply(404, { detail: "no such route" });
    }
  });
  return {
    url: url,
    enrollBody: () => enrollBody,
    web: webSnapshot,
    /** The index of the web service's set the agent said it holds in its latest heartbeat. */
    heldIndex: () => lastHeartbeat?.services?.[serviceKey("default", "web")],
    heldIngress: () => lastHeartbeat?.ingress,
    markUnhealthy: (taskId: string) => void unhealthy.add(taskId),
    setIngress: (listeners: IngressListener[]) => void (ingress = { index: ingress.index + 1, listeners }),
    stopAll: () => {
      for (const taskId of held.keys()) stopping.add(taskId);
    },
    held: () => held.size,
  };
}

/** A port no one listens on now. */
async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((done) => s.listen(0, "127.0.0.1", done));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((done) => s.close(() => done()));
  return port;
}

function webSpec(jobId: string, slot: number): TaskSpec {
  return {
    ...testTaskSpec(["sh", "-c", `echo web-${slot} > /www/index.html && exec httpd -f -p 80 -h /www`]),
    jobId,
    job: "web",
    slot,
    type: "service",
    ports: [{ name: "http", container: 80, protocol: "tcp" }],
  };
}

function sleeperSpec(job: string, extra: Partial<TaskSpec> = {}): TaskSpec {
  return { ...testTaskSpec(["sleep", "3600"]), jobId: randomUUID(), job, type: "service", ...extra };
}

/**
 * `count` requests from inside `containerId` to `target`: what each answered ("FAIL" for an error). The
 * test image's wget crashes with -T, so `timeout` bounds each request instead.
 */
async function requestsFrom(containerId: string, target: string, count: number): Promise<string[]> {
  const script = `for i in $(seq ${count}); do timeout 3 wget -qO- http://${target}/ 2>/dev/null || echo FAIL; done`;
  const { output } = await runtime.exec(containerId, ["sh", "-c", script], { timeoutMs: 30_000 });
  return output.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

async function requestsFromHost(port: number, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3_000) });
      out.push(res.ok ? (await res.text()).trim() : "FAIL");
    } catch {
      out.push("FAIL");
    }
  }
  return out;
}

const distinct = (answers: string[]) => [...new Set(answers)].sort();

describe("upstreams, ingress and job networks", () => {
  it("balance a client's upstream and an ingress port over the healthy backends, keep other jobs out of a job's network, and remove networks when their containers go", async () => {
    const name = uniqueNode("net");
    const nodeId = randomUUID();
    const webJob = randomUUID();
    const specs = {
      web0: webSpec(webJob, 0),
      web1: webSpec(webJob, 1),
      client: sleeperSpec("client", { upstreams: [{ service: "web", namespace: "default", port: UPSTREAM_PORT, policy: "round-robin" }] }),
      other: sleeperSpec("other"),
    };
    const grants = {
      web0: await grantFor(keys, nodeId, specs.web0),
      web1: await grantFor(keys, nodeId, specs.web1),
      client: await grantFor(keys, nodeId, specs.client),
      other: await grantFor(keys, nodeId, specs.other),
    };
    const cp = await standIn(nodeId, Object.values(grants));
    const dir = mkdtempSync(join(tmpdir(), "leasehold-upstreams-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    cleanup.push(() => cleanupNode(name, docker));
    // The agent's log, shown when the test fails.
    const lines: string[] = [];
    onTestFailed(() => console.log(lines.join("\n")));
    const agent: RunningAgent = await runAgent({ server: cp.url, joinToken: "lhj_standin.token", name, labels: {}, dataDir: dir, log: (m, f) => void lines.push(`${m} ${JSON.stringify(f)}`), reconcileIntervalMs: 200 });
    cleanup.push(() => agent.stop());
    expect(cp.enrollBody()?.["advertise"] ?? []).toEqual(detectAdvertise());

    const containerOf = (taskId: string) => agent.supervisor.held().find((t) => t.taskId === taskId && t.phase === "running")?.containerId ?? undefined;
    const ids = await eventually(
      () => {
        const all = { web0: containerOf(grants.web0.taskId), web1: containerOf(grants.web1.taskId), client: containerOf(grants.client.taskId), other: containerOf(grants.other.taskId) };
        return Object.values(all).every((id) => id) ? (all as Record<keyof typeof all, string>) : undefined;
      },
      20_000,
      "every task to run",
    );
    // The agent holds the set with both backends in it.
    await eventually(() => (cp.web().endpoints.length === 2 && cp.heldIndex() === cp.web().index ? true : undefined), 10_000, "the agent to hold both web endpoints");

    // The client finds its upstream on its network's gateway, in its env, and reaches both backends through it.
    const clientEnv = await runtime.exec(ids.client, ["sh", "-c", "echo $LEASEHOLD_UPSTREAM_WEB_ADDR"], { timeoutMs: 10_000 });
    const upstreamAddr = clientEnv.output.trim();
    const gateway = await agent.networks.gateway(specs.client);
    expect(upstreamAddr).toBe(`${gateway}:${UPSTREAM_PORT}`);
    await eventually(async () => ((await requestsFrom(ids.client, upstreamAddr, 1))[0]?.startsWith("web-") ? true : undefined), 10_000, "the upstream to answer");
    const spread = await requestsFrom(ids.client, upstreamAddr, 20);
    expect(spread).toHaveLength(20);
    expect(distinct(spread)).toEqual(["web-0", "web-1"]);

    // On their job network the backends reach each other by name; a container of another job reaches neither
    // them (by address) nor the client's upstream listener.
    expect(await requestsFrom(ids.web1, "web-0", 1)).toEqual(["web-0"]);
    const web0 = await runtime.inspect(ids.web0);
    const web0Ip = web0.state !== "missing" ? web0.ipAddress : null;
    expect(web0Ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(await requestsFrom(ids.web1, web0Ip!, 1)).toEqual(["web-0"]);
    const fromOther = async (target: string) =>
      (await runtime.exec(ids.other, ["sh", "-c", `timeout 2 wget -qO- http://${target}/ 2>&1; echo "exit=$?"`], { timeoutMs: 20_000 })).output;
    // Dropped between bridge networks: no answer at all, until the timeout ends the request.
    const byAddress = await fromOther(web0Ip!);
    expect(byAddress).not.toContain("web-");
    expect(byAddress).toMatch(/exit=[1-9]/);
    // The client's upstream listener is on a host address the other job's container can route to; it serves only the client's subnet.
    const viaUpstream = await fromOther(upstreamAddr);
    expect(viaUpstream).not.toContain("web-");
    expect(viaUpstream).toMatch(/exit=[1-9]/);
    const networks = await docker.listNetworks({ filters: { label: [nodeSelector(name)] } });
    expect(networks.map((n) => n.Labels?.[LABELS.job]).sort()).toEqual([specs.client.jobId, specs.other.jobId, webJob].sort());

    // An ingress listener on a host port serves the web service too.
    const ingressPort = await freePort();
    cp.setIngress([{ port: ingressPort, namespace: "default", service: "web", jobId: webJob }]);
    await eventually(() => (agent.traffic.listening().includes(`*:${ingressPort}`) ? true : undefined), 10_000, "the ingress listener");
    expect(distinct(await requestsFromHost(ingressPort, 10))).toEqual(["web-0", "web-1"]);

    // web-0 dies and its endpoint turns unhealthy: once the agent holds that set, every request goes to web-1.
    await docker.getContainer(ids.web0).kill();
    cp.markUnhealthy(grants.web0.taskId);
    await eventually(() => (cp.heldIndex() === cp.web().index && cp.web().endpoints.every((e) => e.taskId !== grants.web0.taskId || !e.healthy) ? true : undefined), 10_000, "the agent to hold the set without web-0");
    expect(await requestsFrom(ids.client, upstreamAddr, 20)).toEqual(Array(20).fill("web-1"));
    expect(await requestsFromHost(ingressPort, 10)).toEqual(Array(10).fill("web-1"));

    // An ingress listener not in the latest set is closed.
    cp.setIngress([]);
    await eventually(() => (!agent.traffic.listening().includes(`*:${ingressPort}`) ? true : undefined), 10_000, "the ingress listener to close");
    expect(await requestsFromHost(ingressPort, 1)).toEqual(["FAIL"]);

    // Every task stops: their networks and the upstream listener go with their containers.
    cp.stopAll();
    await eventually(() => (cp.held() === 0 ? true : undefined), 20_000, "every task to report stopped");
    await eventually(
      async () => ((await docker.listNetworks({ filters: { label: [nodeSelector(name)] } })).length === 0 ? true : undefined),
      10_000,
      "the networks to be removed",
    );
    expect(agent.traffic.listening()).toEqual([]);
  });
});
