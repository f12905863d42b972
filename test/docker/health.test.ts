// Health checks (http, tcp, exec) against real containers of the local busybox test image.
import type Dockerode from "dockerode";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createHealthCheck } from "../../agent/health";
import type { HealthCheck, HealthCheckSpec, HealthSnapshot, HealthStatus, HealthTarget } from "../../agent/health";
import { createDockerRuntime } from "../../agent/runtime";
import type { ContainerRuntime, ContainerSpec } from "../../agent/runtime";
import { cleanupNode, requireDocker, TEST_IMAGE, testTask, uniqueNode } from "../support/docker";

const HTTPD = ["httpd", "-f", "-p", "8080", "-h", "/www"];
const FAST = { intervalMs: 100, timeoutMs: 1_000 };

let docker: Dockerode;
let runtime: ContainerRuntime;
let node: string;
const running: HealthCheck[] = [];

beforeAll(async () => {
  docker = await requireDocker();
  runtime = createDockerRuntime();
});

beforeEach(() => {
  node = uniqueNode("health");
});

afterEach(async () => {
  for (const check of running.splice(0)) check.stop();
  await cleanupNode(node, docker);
});

async function startTarget(overrides: Partial<ContainerSpec> = {}): Promise<HealthTarget> {
  const started = await runtime.start({ task: testTask(node), image: TEST_IMAGE, command: HTTPD, ports: [{ container: 8080 }], ...overrides });
  const info = await runtime.inspect(started.id);
  return { containerId: started.id, hostPorts: started.hostPorts, ipAddress: info.state === "missing" ? null : info.ipAddress };
}

function watch(spec: HealthCheckSpec, target: HealthTarget): { check: HealthCheck; changes: HealthStatus[]; snapshots: HealthSnapshot[] } {
  const changes: HealthStatus[] = [];
  const snapshots: HealthSnapshot[] = [];
  const check = createHealthCheck(spec, target, {
    runtime,
    onChange: (status, snapshot) => {
      changes.push(status);
      snapshots.push(snapshot);
    },
  });
  running.push(check);
  return { check, changes, snapshots };
}

async function until(check: HealthCheck, status: HealthStatus, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (check.status() !== status) {
    if (Date.now() > deadline) {
      throw new Error(`health status ${check.status()} (${check.snapshot().lastResult?.detail ?? "no result"}), wanted ${status}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("health checks on real containers", () => {
  it("http: healthy when httpd serves the path", async () => {
    const target = await startTarget();
    const { check, changes } = watch({ type: "http", port: 8080, path: "/index.html", failures: 3, ...FAST }, target);
    await until(check, "healthy");
    expect(changes).toEqual(["healthy"]);
    expect(check.snapshot().lastResult?.detail).toContain("HTTP 200");
  });

  it("http: a wrong path turns unhealthy after exactly `failures` checks", async () => {
    const target = await startTarget();
    const { check, changes, snapshots } = watch({ type: "http", port: 8080, path: "/no-such-page", failures: 3, ...FAST }, target);
    await until(check, "unhealthy");
    // The probe that tipped it is the third failure (the first may meet httpd not yet listening rather than a 404).
    expect(changes).toEqual(["unhealthy"]);
    expect(snapshots[0]).toMatchObject({ consecutiveFailures: 3, checks: 3 });
    expect(check.snapshot().lastResult?.detail).toContain("HTTP 404");
  });

  it("http: falls back to the container address when the port is not published", async () => {
    const target = await startTarget({ ports: [] });
    expect(target.hostPorts).toEqual([]);
    const { check } = watch({ type: "http", port: 8080, path: "/", failures: 3, ...FAST }, target);
    await until(check, "healthy");
    expect(check.snapshot().lastResult?.detail).toContain(`${target.ipAddress}:8080`);
  });

  it("tcp: healthy on a listening port, unhealthy on a published port nobody listens on", async () => {
    const target = await startTarget({ ports: [{ container: 8080 }, { container: 9090 }] });
    const up = watch({ type: "tcp", port: 8080, failures: 2, ...FAST }, target);
    const down = watch({ type: "tcp", port: 9090, failures: 2, ...FAST }, target);
    await until(up.check, "healthy");
    await until(down.check, "unhealthy");
    expect(up.changes).toEqual(["healthy"]);
    expect(down.changes).toEqual(["unhealthy"]);
  });

  it("exec: exit 0 is healthy, anything else (or a timeout) is not", async () => {
    const target = await startTarget({ command: ["sh", "-c", "sleep 30"], ports: [] });
    const ok = watch({ type: "exec", command: ["test", "-f", "/www/index.html"], failures: 2, ...FAST }, target);
    const bad = watch({ type: "exec", command: ["test", "-f", "/www/missing.html"], failures: 2, ...FAST }, target);
    const slow = watch({ type: "exec", command: ["sleep", "5"], failures: 1, intervalMs: 100, timeoutMs: 200 }, target);
    await until(ok.check, "healthy");
    await until(bad.check, "unhealthy");
    await until(slow.check, "unhealthy");
    expect(bad.check.snapshot().lastResult?.detail).toMatch(/^exit 1/);
    expect(slow.check.snapshot().lastResult?.detail).toContain("timed out");
  });
});
