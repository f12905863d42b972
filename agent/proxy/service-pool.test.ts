// The service pool against real TCP listeners on loopback: retry on another endpoint, avoiding one that failed, and coming back to it.
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Endpoint } from "../../api/services";
import { createServicePool, NoEndpointError } from "./service-pool";

const caller = { nodeId: "here", region: "eu" };
const servers: Server[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((done) => s.close(() => done()))));
});

/** A listener counting the connections it accepts; on `port` if given. */
async function listener(port = 0): Promise<{ port: number; accepted: () => number }> {
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.push(socket);
  });
  await new Promise<void>((done) => server.listen(port, "127.0.0.1", done));
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, accepted: () => accepted };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

const local = (taskId: string, port: number, healthy = true): Endpoint => ({
  taskId,
  jobId: "j",
  slot: 0,
  version: 1,
  nodeId: "here",
  nodeName: "here",
  region: "eu",
  addresses: [],
  meshPort: null,
  port,
  tags: [],
  healthy,
});

describe("service pool", () => {
  it("retries a refused connect on another endpoint, passes over the refusing one for a while, and tries it again after", async () => {
    const a = await listener();
    const downPort = await closedPort();
    let now = 0;
    const pool = createServicePool({ key: "default/web", caller, now: () => now, failureHoldMs: 1_000 });
    // "a-…" sorts first, so round-robin's first turn is a, the second the refusing one.
    pool.update([local("a", a.port), local("b", downPort)]);
    for (let i = 0; i < 6; i++) {
      const { socket, target } = await pool.connect("round-robin");
      sockets.push(socket);
      expect(target.taskId).toBe("a");
    }
    expect(a.accepted()).toBe(6);
    // b answers now, but it is still passed over while its failure is recent.
    const b = await listener(downPort);
    const early = await pool.connect("round-robin");
    sockets.push(early.socket);
    expect(early.target.taskId).toBe("a");
    now += 1_001;
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const { socket, target } = await pool.connect("round-robin");
      sockets.push(socket);
      seen.add(target.taskId);
    }
    expect([...seen].sort()).toEqual(["a", "b"]);
    expect(b.accepted()).toBe(2);
  });

  it("least-connections sends the next connection to the endpoint with fewer open", async () => {
    const a = await listener();
    const b = await listener();
    const pool = createServicePool({ key: "default/web", caller });
    pool.update([local("a", a.port), local("b", b.port)]);
    const first = await pool.connect("least-connections");
    sockets.push(first.socket);
    const second = await pool.connect("least-connections");
    sockets.push(second.socket);
    expect(new Set([first.target.taskId, second.target.taskId]).size).toBe(2);
    // One of them closes: the next goes where it was.
    first.socket.destroy();
    await new Promise((r) => first.socket.once("close", r));
    const third = await pool.connect("least-connections");
    sockets.push(third.socket);
    expect(third.target.taskId).toBe(first.target.taskId);
  });

  it("fails with NoEndpointError when no endpoint is healthy, or none answers (after one retry)", async () => {
    const pool = createServicePool({ key: "default/web", caller });
    pool.update([local("sick", 1, false)]);
    await expect(pool.connect("round-robin")).rejects.toThrow(NoEndpointError);
    await expect(pool.connect("round-robin")).rejects.toThrow("default/web has no healthy endpoint this node can reach");
    const [p1, p2, p3] = [await closedPort(), await closedPort(), await closedPort()];
    pool.update([local("x", p1), local("y", p2), local("z", p3)]);
    const error = await pool.connect("round-robin").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoEndpointError);
    expect((error as Error).message.match(/ECONNREFUSED/g)).toHaveLength(2);
  });
});
