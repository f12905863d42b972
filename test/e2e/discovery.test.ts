// End to end on a real Docker engine: service discovery across agents on one engine ("hosts" of one
// region). A client reaches a two-replica web service through its upstream address and through the
// agent's DNS, both backends answer, a killed backend stops answering within a few heartbeats, the catalog
// names each endpoint's node, and an ingress port on one node answers from the host. Backends on other nodes are
// reached through their nodes' mesh ports, which give a plain TCP client nothing.
import { execFile } from "node:child_process";
import { connect, createServer } from "node:net";
import { networkInterfaces } from "node:os";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceSnapshot } from "../../api/services";
import { LABELS } from "../../agent/runtime/labels";
import { TestCluster } from "../support/cluster";
import { requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";

const run = promisify(execFile);

// Each backend answers with its slot and its container's hostname; sh as PID 1 with a TERM trap stops at once.
const SERVE = ["sh", "-c", "mkdir -p /srv && echo \"web slot $LEASEHOLD_SLOT on $(hostname)\" > /srv/index.html && trap 'exit 0' TERM; httpd -f -p 8080 -h /srv & wait"];
const SLEEP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"];

const cluster = new TestCluster();
const nodeA = uniqueNode("disc-a");
const nodeB = uniqueNode("disc-b");
const nodeC = uniqueNode("disc-c");
let ingressPort = 0;

/** A port free on this host now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The running container of a task, as the engine shows it. */
async function containerOf(taskId: string): Promise<string> {
  const [found] = await cluster.docker.listContainers({ filters: { label: [`${LABELS.task}=${taskId}`] } });
  if (!found) throw new Error(`no running container for task ${taskId}`);
  return found.Id;
}

/** Runs `script` in the container; its stdout, or null when it fails. */
async function inContainer(id: string, script: string): Promise<string | null> {
  try {
    const { stdout } = await run("docker", ["exec", id, "sh", "-c", script], { timeout: 10_000 });
    return stdout.trim();
  } catch {
    return null;
  }
}

async function runningTasks(job: string) {
  return (await cluster.job(job)).tasks.filter((t) => t.state === "running");
}

let client = "";
let tasksSeen = "";
let seenText = "";

beforeAll(async () => {
  await requireDocker();
  await cluster.start({ heartbeatInterval: "1s", leaseTtl: "3s", sweepInterval: "500ms" });
  // One engine, three agents: each advertises loopback, which their proxies (on the host) dial. The client
  // has a node of its own: a proxy balances over the nearest endpoints only, and a backend beside the
  // client would be the only one it is sent to.
  const agent = (name: string, host: string, role: string) =>
    cluster.spawnAgent(name, { region: "lan", args: ["--advertise", "127.0.0.1,scope=region", "--label", `host=${host}`, "--label", `role=${role}`] });
  await Promise.all([agent(nodeA, "a", "web"), agent(nodeB, "b", "web"), agent(nodeC, "c", "client")]);
  ingressPort = await freePort();
  await cluster.api("POST", "/v1/jobs", {
    name: "web",
    replicas: 2,
    image: TEST_IMAGE,
    command: SERVE,
    resources: { cpu: 50, memory: 16 },
    ports: [{ name: "http", container: 8080, service: { name: "web" } }],
    health: { type: "http", port: "http", path: "/", interval: "500ms", timeout: "500ms", failures: 3 },
    spread: { attribute: "label.host" },
    constraints: [{ attribute: "label.role", value: "web" }],
    // A killed backend stays down for the rest of the test (its restart waits 30 s): what answers then is the other one.
    restart: { mode: "always", attempts: 1, interval: "5m", delay: "30s" },
    stopGrace: "1s",
    ingress: [{ port: ingressPort, service: "web", nodes: [{ attribute: "name", value: nodeA }] }],
  });
  await cluster.api("POST", "/v1/jobs", {
    name: "client",
    image: TEST_IMAGE,
    command: SLEEP,
    resources: { cpu: 50, memory: 16 },
    upstreams: [{ service: "web", port: 8080 }],
    constraints: [{ attribute: "label.role", value: "client" }],
    stopGrace: "1s",
  });
  const [task] = await cluster.waitFor("the client running", async () => {
    const tasks = await runningTasks("client");
    return tasks.length === 1 ? tasks : undefined;
  });
  client = await containerOf(task!.id);
}, 60_000);

afterAll(async () => {
  await cluster.stop();
}, 30_000);

describe("service discovery across agents", () => {
  it("places one healthy web backend on each agent, and the catalog names their nodes", async () => {
    const snapshot = await cluster.waitFor("two healthy web endpoints", async () => {
      const s = await cluster.api<ServiceSnapshot>("GET", "/v1/services/web");
      if (s.endpoints.filter((e) => e.healthy).length === 2) return s;
      tasksSeen = JSON.stringify((await cluster.job("web")).tasks.map((t) => ({ slot: t.slot, node: t.nodeId, state: t.state, message: t.message })));
      return undefined;
    }, 25_000, () => tasksSeen);
    expect(new Set(snapshot.endpoints.map((e) => e.nodeName))).toEqual(new Set([nodeA, nodeB]));
    for (const e of snapshot.endpoints) {
      expect(e.addresses).toContainEqual({ address: "127.0.0.1", scope: "region" });
      expect(e.port).toBeGreaterThan(0);
      expect(e.meshPort).toBeGreaterThan(0);
    }
  }, 30_000);

  it("reaches another node's backend only through its mesh port, which gives a plain TCP client nothing", async () => {
    // A host address other than loopback (the engine's bridge gateway is one).
    const hostAddress = Object.values(networkInterfaces()).flat().find((i) => i && i.family === "IPv4" && !i.internal)!.address;
    const s = await cluster.api<ServiceSnapshot>("GET", "/v1/services/web");
    const nodeIdC = (await cluster.api<{ nodes: { id: string; name: string }[] }>("GET", "/v1/nodes")).nodes.find((n) => n.name === nodeC)!.id;
    // The client's node declares web as an upstream: it is among the callers the backends' nodes let in.
    expect(s.callers).toContain(nodeIdC);
    for (const e of s.endpoints) {
      const got = await new Promise<string>((resolve) => {
        let text = "";
        const socket = connect({ host: "127.0.0.1", port: e.meshPort! }, () => socket.write(`${JSON.stringify({ service: "default/web", port: e.port })}\nGET / HTTP/1.0\r\n\r\n`));
        socket.on("data", (d) => (text += String(d)));
        socket.on("error", () => resolve(text));
        socket.on("close", () => resolve(text));
        socket.setTimeout(5_000, () => socket.destroy());
      });
      expect(got, `plain TCP to ${e.nodeName}'s mesh port`).not.toMatch(/ok|web slot/);
      // Nor around the mesh: the backend's own port is published on loopback only, not on the host's other addresses.
      const outside = await new Promise<string>((resolve) => {
        const socket = connect({ host: hostAddress, port: e.port }, () => {
          socket.destroy();
          resolve("connected");
        });
        socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
      expect(outside, `${hostAddress}:${e.port}`).toBe("ECONNREFUSED");
    }
  }, 30_000);

  it("answers through LEASEHOLD_UPSTREAM_WEB_ADDR from both backends", async () => {
    const addr = await inContainer(client, "echo $LEASEHOLD_UPSTREAM_WEB_ADDR");
    expect(addr).toMatch(/^\d+\.\d+\.\d+\.\d+:8080$/);
    // Until the client's agent holds both endpoints (a heartbeat or so), some answers come from one only.
    const responders = await cluster.waitFor("both backends answering through the upstream", async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const body = await inContainer(client, "timeout 3 wget -qO- http://$LEASEHOLD_UPSTREAM_WEB_ADDR/");
        if (body) seen.add(body);
      }
      seenText = JSON.stringify([...seen]);
      return seen.size === 2 ? seen : undefined;
    }, 20_000, () => `answers seen: ${seenText}`);
    expect([...responders].every((b) => b.startsWith("web slot "))).toBe(true);
  }, 30_000);

  it("answers through the agent's DNS at web.default.leasehold", async () => {
    const body = await cluster.waitFor("an answer by name", async () => (await inContainer(client, "timeout 3 wget -qO- http://web.default.leasehold:8080/")) ?? undefined, 10_000);
    expect(body).toMatch(/^web slot /);
    // The name is the upstream's listener: the gateway of the client's network.
    const gateway = (await inContainer(client, "echo $LEASEHOLD_UPSTREAM_WEB_ADDR"))?.split(":")[0] ?? "none";
    expect(await inContainer(client, "nslookup web.default.leasehold")).toContain(`Address: ${gateway}`);
  }, 20_000);

  it("answers from the ingress port on the host", async () => {
    const body = await cluster.waitFor("an answer from the ingress port", async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${ingressPort}/`, { signal: AbortSignal.timeout(2_000) });
        return res.ok ? (await res.text()).trim() : undefined;
      } catch {
        return undefined;
      }
    }, 15_000);
    expect(body).toMatch(/^web slot /);
  }, 20_000);

  it("fails over: with one backend killed, every answer comes from the other within a few heartbeats", async () => {
    const web = await runningTasks("web");
    expect(web).toHaveLength(2);
    const [victim, survivor] = web;
    const survivorBody = await inContainer(await containerOf(survivor!.id), "cat /srv/index.html");
    expect(survivorBody).toMatch(/^web slot /);
    await run("docker", ["kill", await containerOf(victim!.id)]);
    const answers = await cluster.waitFor("10 answers in a row from the survivor", async () => {
      const got: string[] = [];
      for (let i = 0; i < 10; i++) {
        const body = await inContainer(client, "timeout 3 wget -qO- http://$LEASEHOLD_UPSTREAM_WEB_ADDR/");
        if (body === null || body !== survivorBody) return undefined;
        got.push(body);
      }
      return got;
    }, 15_000);
    expect(answers).toHaveLength(10);
  }, 30_000);
});
