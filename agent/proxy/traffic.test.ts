// Traffic on loopback: what heartbeats ask for, listeners opened and closed as wanted, the subnet an upstream serves.
import { createConnection, createServer, type AddressInfo, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Endpoint, ServiceSnapshot } from "../../api/services";
import { silentLogger } from "../log";
import { createTraffic, inSubnet, upstreamEnvName, type Traffic } from "./traffic";

const caller = { nodeId: "here", region: "eu" };
const servers: Server[] = [];
const traffics: Traffic[] = [];

afterEach(async () => {
  await Promise.all(traffics.splice(0).map((t) => t.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((done) => s.close(() => done()))));
});

function traffic(): Traffic {
  const t = createTraffic({ caller, log: silentLogger });
  traffics.push(t);
  return t;
}

/** A backend answering each connection with `text` and closing it. */
async function backend(text: string): Promise<number> {
  const server = createServer((s) => s.end(text));
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** What a connection to 127.0.0.1:port reads until it closes ("" when refused or reset without data). */
function read(port: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = createConnection({ host: "127.0.0.1", port });
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", () => resolve(Buffer.concat(chunks).toString()));
    s.on("close", () => resolve(Buffer.concat(chunks).toString()));
  });
}

const endpoint = (taskId: string, port: number): Endpoint => ({ taskId, jobId: "j", slot: 0, version: 1, nodeId: "here", nodeName: "here", region: "eu", addresses: [], meshPort: null, port, tags: [], healthy: true });
const snapshot = (index: number, endpoints: Endpoint[]): ServiceSnapshot => ({ namespace: "default", name: "web", index, endpoints, callers: [] });
const site = { gateway: "127.0.0.1", subnet: "127.0.0.0/8" };

describe("traffic", () => {
  it("asks for the services its listeners need by the index it holds, and the ingress it holds", async () => {
    const t = traffic();
    expect(t.heartbeatFields()).toEqual({ ingress: 0 });
    const port = await freePort();
    const env = await t.openUpstreams("task-1", 1, site, [{ service: "web", namespace: "default", port, policy: "round-robin" }]);
    expect(env).toEqual({ LEASEHOLD_UPSTREAM_WEB_ADDR: `127.0.0.1:${port}` });
    expect(t.heartbeatFields()).toEqual({ services: { "default/web": 0 }, ingress: 0 });
    await t.applyReply({ services: [snapshot(7, [])], ingress: { index: 3, listeners: [{ port: await freePort(), namespace: "other", service: "api", jobId: "j" }] } });
    expect(t.heartbeatFields()).toEqual({ services: { "default/web": 7, "other/api": 0 }, ingress: 3 });
    // No task wants the upstream any more: its service is no longer asked for.
    await t.setUpstreams([]);
    expect(t.heartbeatFields()).toEqual({ services: { "other/api": 0 }, ingress: 3 });
  });

  it("serves an upstream over the endpoints it was given, follows a new set, and closes it when no task wants it", async () => {
    const t = traffic();
    const [one, two] = [await backend("one"), await backend("two")];
    const port = await freePort();
    await t.openUpstreams("task-1", 1, site, [{ service: "web", namespace: "default", port, policy: "round-robin" }]);
    expect(t.listening()).toEqual([`127.0.0.1:${port}`]);
    // No set yet: the connection is closed, not left hanging.
    expect(await read(port)).toBe("");
    await t.applyReply({ services: [snapshot(1, [endpoint("a", one), endpoint("b", two)])] });
    const answers = await Promise.all([read(port), read(port), read(port), read(port)]);
    expect([...new Set(answers)].sort()).toEqual(["one", "two"]);
    await t.applyReply({ services: [snapshot(2, [endpoint("b", two)])] });
    expect(await Promise.all([read(port), read(port), read(port)])).toEqual(["two", "two", "two"]);
    await t.setUpstreams([]);
    expect(t.listening()).toEqual([]);
    expect(await read(port)).toBe("");
  });

  it("serves an upstream to its network's subnet only", async () => {
    const t = traffic();
    const one = await backend("one");
    const port = await freePort();
    await t.openUpstreams("task-1", 1, { gateway: "127.0.0.1", subnet: "10.0.0.0/8" }, [{ service: "web", namespace: "default", port, policy: "round-robin" }]);
    await t.applyReply({ services: [snapshot(1, [endpoint("a", one)])] });
    expect(await read(port)).toBe("");
  });

  it("opens the ingress listeners of the latest set and closes the rest", async () => {
    const t = traffic();
    const one = await backend("one");
    const [p1, p2] = [await freePort(), await freePort()];
    await t.applyReply({
      services: [],
      ingress: {
        index: 1,
        listeners: [
          { port: p1, namespace: "default", service: "web", jobId: "j" },
          { port: p2, namespace: "default", service: "web", jobId: "j" },
        ],
      },
    });
    expect(t.listening().sort()).toEqual([`*:${p1}`, `*:${p2}`].sort());
    await t.applyReply({ services: [snapshot(1, [endpoint("a", one)])] });
    expect(await read(p2)).toBe("one");
    await t.applyReply({ ingress: { index: 2, listeners: [{ port: p1, namespace: "default", service: "web", jobId: "j" }] } });
    expect(t.listening()).toEqual([`*:${p1}`]);
    expect(await read(p1)).toBe("one");
  });

  it("tries a listener that could not be opened again at the next converge", async () => {
    const t = traffic();
    const blocker = createServer();
    await new Promise<void>((done) => blocker.listen(0, done));
    const { port } = blocker.address() as AddressInfo;
    await t.applyReply({ ingress: { index: 1, listeners: [{ port, namespace: "default", service: "web", jobId: "j" }] } });
    expect(t.listening()).toEqual([]);
    await new Promise<void>((done) => blocker.close(() => done()));
    await t.converge();
    expect(t.listening()).toEqual([`*:${port}`]);
  });
});

describe("inSubnet and upstreamEnvName", () => {
  it("match IPv4 addresses against a CIDR", () => {
    expect(inSubnet("172.18.0.5", "172.18.0.0/16")).toBe(true);
    expect(inSubnet("172.19.0.5", "172.18.0.0/16")).toBe(false);
    expect(inSubnet("10.1.2.3", "0.0.0.0/0")).toBe(true);
    expect(inSubnet("::1", "172.18.0.0/16")).toBe(false);
    expect(inSubnet("172.18.0.5", "nonsense")).toBe(false);
  });

  it("name the env variable after the service, upper-cased, with '-' as '_'", () => {
    expect(upstreamEnvName("web")).toBe("LEASEHOLD_UPSTREAM_WEB_ADDR");
    expect(upstreamEnvName("user-api")).toBe("LEASEHOLD_UPSTREAM_USER_API_ADDR");
  });
});
