// A first start that fails leaves the data dir able to start again and show its admin token: config and
// TLS files are checked before anything is created, and the token is recorded only once the server listens.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../worker/config";
import { startNodeServer, type NodeServer } from "../../worker/node";

let dir: string;
const open: NodeServer[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-first-start-"));
});

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

const start = async (dataDir: string, extra: { port?: number; tls?: { cert: string; key: string } } = {}) => {
  const server = await startNodeServer({ dataDir, port: 0, sweep: false, config: parseConfig({}), log: () => {}, ...extra });
  open.push(server);
  return server;
};

async function authorised(server: NodeServer, token: string | null): Promise<number> {
  const res = await fetch(`${server.url}/v1/tokens`, { headers: { authorization: `Bearer ${token ?? ""}` } });
  return res.status;
}

describe("a first start that fails", () => {
  it("on a missing TLS file creates nothing, and the next start shows a working admin token", async () => {
    const dataDir = join(dir, "data");
    const missing = join(dir, "no-such-cert.pem");
    await expect(start(dataDir, { tls: { cert: missing, key: missing } })).rejects.toThrow(`cannot read the TLS certificate ${missing}`);
    expect(existsSync(dataDir)).toBe(false);

    const server = await start(dataDir);
    expect(server.adminToken).not.toBeNull();
    expect(await authorised(server, server.adminToken)).toBe(200);
  });

  it("to listen (the port is taken) records no admin token, so the next start shows one", async () => {
    const dataDir = join(dir, "data");
    const taken: Server = createServer();
    await new Promise<void>((ready) => taken.listen(0, "127.0.0.1", ready));
    const port = (taken.address() as { port: number }).port;
    try {
      await expect(start(dataDir, { port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await new Promise<void>((done) => taken.close(() => done()));
    }

    const server = await start(dataDir);
    expect(server.adminToken).not.toBeNull();
    expect(await authorised(server, server.adminToken)).toBe(200);
    // Shown once: a later start has none to show.
    await server.close();
    open.pop();
    expect((await start(dataDir)).adminToken).toBeNull();
  });
});
