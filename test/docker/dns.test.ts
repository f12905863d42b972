// The agent's DNS as a real container sees it: a busybox container whose resolver is the server listening
// on the default bridge's gateway looks a service up with nslookup, and an outside name is forwarded.
import type Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDnsServer } from "../../agent/dns";
import type { DnsServer } from "../../agent/dns";
import { LABELS } from "../../agent/runtime";
import { cleanupNode, requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";
import { startStandInResolver, testEndpoint } from "../support/dns";
import type { StandIn } from "../support/dns";

let docker: Dockerode;
let gateway: string;
let server: DnsServer;
let upstream: StandIn;
const node = uniqueNode("dns");

beforeAll(async () => {
  docker = await requireDocker();
  const bridge = await docker.getNetwork("bridge").inspect();
  const configs = (bridge as { IPAM?: { Config?: Array<{ Gateway?: string; Subnet?: string }> } }).IPAM?.Config ?? [];
  // An engine whose default bridge came from an address pool names only its subnet: its gateway is the first host.
  const bySubnet = configs.map((c) => /^(\d+\.\d+\.\d+)\.0\/\d+$/.exec(c.Subnet ?? "")?.[1]).find((p) => p !== undefined);
  const found = configs.find((c) => c.Gateway)?.Gateway ?? (bySubnet !== undefined ? `${bySubnet}.1` : undefined);
  if (!found) throw new Error("the engine's bridge network has no gateway address to serve DNS on");
  gateway = found;
  upstream = await startStandInResolver("192.0.2.7");
  server = createDnsServer({ node: { nodeId: "n1", region: "r1" }, forwarder: { address: "127.0.0.1", port: upstream.port } });
  try {
    await server.listen(gateway, 53);
  } catch (error) {
    throw new Error(`cannot serve DNS on the bridge gateway ${gateway}:53 (the engine must run on this host, and the port be free)`, { cause: error });
  }
  server.setView({
    upstreams: { [gateway]: [{ service: "web", namespace: "default", port: 8080 }] },
    services: {
      "default/web": {
        namespace: "default",
        name: "web",
        index: 1,
        endpoints: [
          testEndpoint("abcdef01-0000-4000-8000-000000000001", { nodeId: "n1", port: 31_001 }),
          testEndpoint("abcdef02-0000-4000-8000-000000000002", { nodeId: "n2", addresses: [{ address: "10.0.0.2", scope: "region" }], port: 31_002, healthy: false }),
        ],
        callers: [],
      },
    },
  });
});

afterAll(async () => {
  await server?.close();
  await upstream?.close();
  if (docker) await cleanupNode(node, docker);
});

async function runInContainer(script: string): Promise<{ exitCode: number; output: string }> {
  const container = await docker.createContainer({
    Image: TEST_IMAGE,
    Cmd: ["sh", "-c", script],
    Tty: true,
    Labels: { [LABELS.node]: node },
    HostConfig: { Dns: [gateway], NetworkMode: "bridge" },
  });
  await container.start();
  const { StatusCode } = (await container.wait()) as { StatusCode: number };
  const output = (await container.logs({ stdout: true, stderr: true })).toString("utf8");
  return { exitCode: StatusCode, output };
}

describe("DNS for a real container", () => {
  it("nslookup resolves a service to the gateway, its SRV to the healthy endpoint, and an outside name through the forwarder", async () => {
    const { exitCode, output } = await runInContainer(
      "nslookup web.default.leasehold && nslookup -type=SRV web.default.leasehold && nslookup example.test && ! nslookup api.default.leasehold",
    );
    expect(output).toMatch(new RegExp(`Name:\\s+web\\.default\\.leasehold\\s+Address:\\s+${gateway.replace(/\./g, "\\.")}`));
    expect(output).toMatch(/web\.default\.leasehold\s+service = 0 1 31001 abcdef01\.web\.default\.leasehold/);
    expect(output).not.toContain("31002");
    expect(output).toMatch(/Name:\s+example\.test\s+Address:\s+192\.0\.2\.7/);
    expect(output).toMatch(/NXDOMAIN/);
    expect(exitCode, output).toBe(0);
    expect(upstream.asked.map((q) => q.name)).toContain("example.test");
    expect(upstream.asked.map((q) => q.name)).not.toContain("api.default.leasehold");
  });
});
