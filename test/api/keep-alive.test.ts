// Agents heartbeat every few seconds: the Node server keeps their connections open between heartbeats
// instead of closing them after Node's default 5 s of idleness.
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../worker/config";
import { startNodeServer, type NodeServer } from "../../worker/node";

let server: NodeServer;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-keepalive-"));
  server = await startNodeServer({ dataDir: dir, port: 0, sweep: false, config: parseConfig({}), log: () => {} });
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function get(agent: Agent, path: string): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, server.url), { agent }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("Node server connections", () => {
  it("keeps an idle connection open longer than one heartbeat interval", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(agent, "/healthz");
      expect(first).toEqual({ status: 200, reused: false });
      // Longer than Node's default keep-alive timeout (5 s, plus the 1 s it waits beyond what it announces),
      // which would have closed the socket by now.
      await new Promise((r) => setTimeout(r, 7_000));
      const second = await get(agent, "/healthz");
      expect(second).toEqual({ status: 200, reused: true });
    } finally {
      agent.destroy();
    }
  }, 15_000);
});
