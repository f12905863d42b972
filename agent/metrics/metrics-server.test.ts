// The /metrics server: the address it takes, what it serves, and a port clash that is logged, not thrown.
import { afterEach, describe, expect, it } from "vitest";
import type { Logger } from "../log";
import { createAgentMetrics } from "./agent-metrics";
import { listenMetrics, parseListenAddress, type MetricsServer } from "./metrics-server";

const open: MetricsServer[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

function recordingLog(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return { errors, debug: () => {}, info: () => {}, warn: () => {}, error: (message) => void errors.push(message) };
}

describe("parseListenAddress", () => {
  it("takes HOST:PORT with an IPv4 address, a name or a bracketed IPv6 address", () => {
    expect(parseListenAddress("127.0.0.1:7702")).toEqual({ host: "127.0.0.1", port: 7702 });
    expect(parseListenAddress("localhost:0")).toEqual({ host: "localhost", port: 0 });
    expect(parseListenAddress("[::1]:9100")).toEqual({ host: "::1", port: 9100 });
  });
  it("refuses a bare port, an unbracketed IPv6 address and a port past 65535", () => {
    for (const bad of ["7702", "::1:7702", "127.0.0.1:65536", "127.0.0.1:", "off"]) expect(() => parseListenAddress(bad), bad).toThrow(/HOST:PORT/);
  });
});

describe("listenMetrics", () => {
  it("serves the registry's text exposition at /metrics and nothing elsewhere", async () => {
    const metrics = createAgentMetrics();
    metrics.taskRestarted();
    const server = (await listenMetrics({ address: { host: "127.0.0.1", port: 0 }, registry: metrics.registry, log: recordingLog() }))!;
    open.push(server);
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await res.text()).toContain("leasehold_agent_task_restarts_total 1");
    expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: "POST" })).status).toBe(405);
  });

  it("logs a port already taken as an error and gives no server, rather than throwing", async () => {
    const first = (await listenMetrics({ address: { host: "127.0.0.1", port: 0 }, registry: createAgentMetrics().registry, log: recordingLog() }))!;
    open.push(first);
    const log = recordingLog();
    await expect(listenMetrics({ address: { host: "127.0.0.1", port: first.port }, registry: createAgentMetrics().registry, log })).resolves.toBeUndefined();
    expect(log.errors).toEqual(["cannot open the metrics port: running on without metrics"]);
  });
});
