// Health probes and the status state machine against real local HTTP and TCP servers (no Docker).
import http from "node:http";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ContainerRuntime } from "../runtime/container-runtime";
import { createHealthCheck } from "./health-check";
import type { HealthCheck, HealthStatus } from "./health-check";
import { probeHttp, probeTcp, resolveAddress, systemTimers } from "./probes";
import type { HealthTarget } from "./probes";

// http and tcp checks never exec; a runtime that refuses keeps this suite honest about that.
const noExec: Pick<ContainerRuntime, "exec"> = {
  exec: () => Promise.reject(new Error("exec not expected")),
};

const closers: (() => Promise<void>)[] = [];
const checks: HealthCheck[] = [];
afterEach(async () => {
  for (const c of checks.splice(0)) c.stop();
  for (const close of closers.splice(0)) await close();
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("no address");
  return address.port;
}

/** An HTTP server whose answer the test sets. */
async function controllableServer(): Promise<{ port: number; set(status: number): void; hits(): number }> {
  let status = 200;
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits += 1;
    res.writeHead(status, status >= 300 && status < 400 ? { location: "/elsewhere" } : {});
    res.end(req.url);
  });
  server.keepAliveTimeout = 1;
  const port = await listen(server);
  return { port, set: (s) => (status = s), hits: () => hits };
}

function target(port: number): HealthTarget {
  return { containerId: "unused", hostPorts: [{ container: 80, host: port, protocol: "tcp" }], ipAddress: null };
}

async function until(check: HealthCheck, status: HealthStatus, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (check.status() !== status) {
    if (Date.now() > deadline) throw new Error(`status ${check.status()}, wanted ${status}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("probes", () => {
  it("http: 2xx and 3xx are healthy, 4xx and 5xx are not, a silent server times out", async () => {
    const server = await controllableServer();
    const timers = systemTimers();
    const at = { host: "127.0.0.1", port: server.port };
    for (const [status, ok] of [[200, true], [204, true], [302, true], [404, false], [503, false]] as const) {
      server.set(status);
      expect((await probeHttp(at, "/ready", 1_000, timers)).ok, `HTTP ${status}`).toBe(ok);
    }
    const silent = net.createServer((socket) => socket.resume());
    const silentPort = await listen(silent);
    const began = Date.now();
    const result = await probeHttp({ host: "127.0.0.1", port: silentPort }, "/", 200, timers);
    expect(result).toEqual({ ok: false, detail: `GET 127.0.0.1:${silentPort}/ timed out after 200 ms` });
    expect(Date.now() - began).toBeLessThan(1_000);
  });

  it("tcp: a listener is healthy; refused, and accept-then-close (a userland proxy with no backend), are not", async () => {
    const timers = systemTimers();
    const listener = net.createServer((socket) => socket.resume());
    const port = await listen(listener);
    expect((await probeTcp({ host: "127.0.0.1", port }, 1_000, timers)).ok).toBe(true);

    const slammer = net.createServer((socket) => socket.destroy());
    const slamPort = await listen(slammer);
    expect((await probeTcp({ host: "127.0.0.1", port: slamPort }, 1_000, timers)).ok).toBe(false);

    const closed = net.createServer();
    const closedPort = await listen(closed);
    await closers.pop()?.();
    expect(await probeTcp({ host: "127.0.0.1", port: closedPort }, 1_000, timers)).toMatchObject({ ok: false });
  });

  it("aims at the published host port first, then the container address", () => {
    const t: HealthTarget = { containerId: "c", hostPorts: [{ container: 8080, host: 32768, protocol: "tcp" }], ipAddress: "172.17.0.2" };
    expect(resolveAddress(t, 8080)).toEqual({ host: "127.0.0.1", port: 32768 });
    expect(resolveAddress(t, 9090)).toEqual({ host: "172.17.0.2", port: 9090 });
    expect(resolveAddress({ ...t, ipAddress: null }, 9090)).toBeUndefined();
    expect(resolveAddress({ ...t, hostAddress: "10.0.0.5" }, 8080)).toEqual({ host: "10.0.0.5", port: 32768 });
  });
});

describe("createHealthCheck", () => {
  it("goes starting → healthy → unhealthy after `failures` failures → healthy again", async () => {
    const server = await controllableServer();
    const changes: [HealthStatus, number][] = [];
    const check = createHealthCheck(
      { type: "http", port: 80, path: "/health", intervalMs: 30, timeoutMs: 500, failures: 3 },
      target(server.port),
      { runtime: noExec, onChange: (status, snap) => changes.push([status, snap.consecutiveFailures]) },
    );
    checks.push(check);
    expect(check.status()).toBe("starting");
    await until(check, "healthy");

    server.set(500);
    await until(check, "unhealthy");
    expect(check.snapshot().consecutiveFailures).toBe(3);
    expect(check.snapshot().lastResult?.detail).toContain("HTTP 500");

    server.set(200);
    await until(check, "healthy");
    expect(changes).toEqual([
      ["healthy", 0],
      ["unhealthy", 3],
      ["healthy", 0],
    ]);
  });

  it("stays starting through the grace period, and stops probing when stopped", async () => {
    const server = await controllableServer();
    server.set(503);
    const check = createHealthCheck(
      { type: "http", port: 80, path: "/", intervalMs: 20, timeoutMs: 500, failures: 1, graceMs: 250 },
      target(server.port),
      { runtime: noExec },
    );
    checks.push(check);
    await new Promise((r) => setTimeout(r, 150));
    expect(check.status()).toBe("starting");
    expect(check.snapshot().checks).toBeGreaterThan(1);
    await until(check, "unhealthy");

    check.stop();
    await new Promise((r) => setTimeout(r, 50));
    const hits = server.hits();
    await new Promise((r) => setTimeout(r, 100));
    expect(server.hits()).toBe(hits);
  });

  it("rejects nonsense timing when created", () => {
    const t = target(1);
    expect(() => createHealthCheck({ type: "tcp", port: 80, intervalMs: 0, timeoutMs: 1, failures: 1 }, t, { runtime: noExec })).toThrow(RangeError);
    expect(() => createHealthCheck({ type: "exec", command: [], intervalMs: 10, timeoutMs: 1, failures: 1 }, t, { runtime: noExec })).toThrow(RangeError);
    expect(() => createHealthCheck({ type: "http", port: 80, path: "/", intervalMs: 10, timeoutMs: 1, failures: 0 }, t, { runtime: noExec })).toThrow(RangeError);
  });
});
