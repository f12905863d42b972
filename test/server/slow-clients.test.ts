// Slow clients on the Node server: one that never finishes its request is cut off at requestTimeout (here
// 1 s, configurable so the test is quick), while what agents do legitimately is not: a claim long-polls
// past that bound, and a kept-alive connection idles between heartbeats past the headers timeout.
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HollowAgent, httpFetcher } from "../../bench/hollow-agent";
import { parseConfig } from "../../worker/config";
import { startNodeServer, type NodeServer } from "../../worker/node";

const REQUEST_TIMEOUT_MS = 1_000;

let server: NodeServer;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-slow-"));
  server = await startNodeServer({ dataDir: dir, port: 0, sweep: false, config: parseConfig({ requestTimeout: "1s", maxClaimWait: "3s" }), log: () => {} });
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `head` (and nothing more) and reports how long the server keeps the connection, and what it said. */
function stall(head: string, giveUpMs: number): Promise<{ closedAfterMs: number | null; reply: string }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve) => {
    const socket: Socket = connect(Number(port), hostname);
    const started = Date.now();
    let reply = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closedAfterMs: null, reply });
    }, giveUpMs);
    socket.on("connect", () => socket.write(head));
    socket.on("data", (c: Buffer) => (reply += c.toString()));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ closedAfterMs: Date.now() - started, reply });
    });
  });
}

describe("the Node server and slow clients", () => {
  it("cuts off a client whose chunked body never ends, within the request timeout", async () => {
    const head = `POST /v1/agent/claim HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"wai\r\n`;
    const r = await stall(head, 6_000);
    expect(r.closedAfterMs).not.toBeNull();
    // Node checks for overdue requests on an interval; the bound allows for one of them.
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
    expect(r.closedAfterMs).toBeLessThan(REQUEST_TIMEOUT_MS + 1_500);
    expect(r.reply).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("cuts off a client whose headers never end", async () => {
    const r = await stall("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", 6_000);
    expect(r.closedAfterMs).not.toBeNull();
    expect(r.closedAfterMs).toBeLessThan(REQUEST_TIMEOUT_MS + 1_500);
  });

  it("answers a claim that long-polls for longer than the request timeout", async () => {
    const admin = { authorization: `Bearer ${server.adminToken ?? ""}`, "content-type": "application/json" };
    const join = (await (await fetch(`${server.url}/v1/join-tokens`, { method: "POST", headers: admin, body: JSON.stringify({}) })).json()) as { token: string };
    const agent = new HollowAgent(httpFetcher(server.url), "slow-poller");
    await agent.enroll(join.token);
    const started = Date.now();
    const claim = await agent.claim(2_500);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_400);
    expect(claim.leases).toEqual([]);
  });

  it("keeps an idle kept-alive connection past the headers timeout", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = request(new URL("/healthz", server.url), { agent }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        });
        req.on("error", reject);
        req.end();
      });
    try {
      expect(await get()).toEqual({ status: 200, reused: false });
      await new Promise((r) => setTimeout(r, REQUEST_TIMEOUT_MS + 1_500));
      expect(await get()).toEqual({ status: 200, reused: true });
    } finally {
      agent.destroy();
    }
  });
});
