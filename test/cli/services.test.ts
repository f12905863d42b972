// leasehold services [NAME] against a real control plane with a hollow agent.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HollowAgent } from "../../bench/hollow-agent";
import { eventually, startCliHarness, type CliHarness } from "./harness";

let h: CliHarness;
let a: HollowAgent;

beforeAll(async () => {
  h = await startCliHarness();
  a = await h.enroll("node-a", { region: "eu", advertise: [{ address: "10.0.0.1", scope: "region" }] });
  await h.api("POST", "/v1/jobs", { name: "web", image: "img", replicas: 1, resources: { cpu: 100, memory: 64 }, ports: [{ name: "http", container: 8080, service: { name: "web", tags: ["blue"] } }] });
  await eventually(async () => ((await a.claim()).leases.length > 0 ? true : undefined), "the task leased");
  for (const l of a.leases.values()) l.hostPorts = [{ container: 8080, host: 23456 }];
  await a.heartbeat();
});
afterAll(() => h?.close());

describe("leasehold services", () => {
  it("lists the namespace's services with their counts", async () => {
    const r = await h.cli(["services"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+HEALTHY\s+ENDPOINTS\s+TAGS\s+JOBS\n/);
    expect(r.stdout).toMatch(/web\s+1\s+1\s+blue\s+default\/web/);
    expect((await h.cli(["services", "-n", "default", "-o", "json"])).stdout).toContain('"healthy": 1');
  });

  it("shows a service's endpoints at their node's address and port; an unknown one is an error", async () => {
    const r = await h.cli(["services", "web"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/default\/web#0\s+v1\s+node-a\s+eu\s+10\.0\.0\.1:23456\s+healthy\s+blue/);
    const missing = await h.cli(["services", "api"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no service "api"');
  });
});
