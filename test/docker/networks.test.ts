// Networks through the Docker runtime adapter, against a real engine: made once however many callers race,
// never adopted from another owner, listed by owner, removed only once no running container is on them.
import Dockerode from "dockerode";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ContainerRuntimeError, createDockerRuntime, LABELS } from "../../agent/runtime";
import type { ContainerRuntime, NetworkSpec } from "../../agent/runtime";
import { cleanupNode, requireDocker, TEST_IMAGE, testOwner, testTask, uniqueNode } from "../support/docker";

let docker: Dockerode;
let runtime: ContainerRuntime;
let node: string;

beforeAll(async () => {
  docker = await requireDocker();
  runtime = createDockerRuntime();
});
beforeEach(() => {
  node = uniqueNode("netrt");
});
afterEach(async () => {
  await cleanupNode(node, docker);
});

const spec = (overrides: Partial<NetworkSpec> = {}): NetworkSpec => ({
  name: `lh-test-${node}`,
  owner: testOwner(node),
  node,
  serves: { kind: "job", namespace: "default", job: "job-1" },
  ...overrides,
});

describe("networks", () => {
  it("are made once, however many callers race, labelled with their owner and whom they serve, with a gateway in their subnet", async () => {
    const results = await Promise.all([runtime.ensureNetwork(spec()), runtime.ensureNetwork(spec()), runtime.ensureNetwork(spec())]);
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    const [info] = results;
    expect(info?.gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(info?.subnet).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    expect(info?.labels).toMatchObject({ [LABELS.cluster]: testOwner(node).cluster, [LABELS.nodeId]: node, [LABELS.node]: node, [LABELS.network]: "job", [LABELS.job]: "job-1" });
    expect((await docker.listNetworks({ filters: { name: [spec().name] } })).filter((n) => n.Name === spec().name)).toHaveLength(1);
    expect((await runtime.ensureNetwork(spec())).id).toBe(info?.id);
  });

  it("made twice under one name by someone else are cleared down to the oldest", async () => {
    const labels = { [LABELS.cluster]: testOwner(node).cluster, [LABELS.nodeId]: node, [LABELS.node]: node };
    const first = await docker.createNetwork({ Name: spec().name, Driver: "bridge", CheckDuplicate: false, Labels: labels });
    await docker.createNetwork({ Name: spec().name, Driver: "bridge", CheckDuplicate: false, Labels: labels });
    expect((await runtime.ensureNetwork(spec())).id).toBe(first.id);
    expect((await docker.listNetworks({ filters: { name: [spec().name] } })).filter((n) => n.Name === spec().name).map((n) => n.Id)).toEqual([first.id]);
  });

  it("of another owner are neither listed nor adopted", async () => {
    await runtime.ensureNetwork(spec());
    const stranger = { cluster: "other-cluster", nodeId: node };
    expect(await runtime.listNetworks({ owner: stranger })).toEqual([]);
    expect((await runtime.listNetworks({ owner: testOwner(node) })).map((n) => n.name)).toEqual([spec().name]);
    const taken = await runtime.ensureNetwork(spec({ owner: stranger })).catch((e: unknown) => e);
    expect(taken).toBeInstanceOf(ContainerRuntimeError);
    expect((taken as ContainerRuntimeError).code).toBe("conflict");
  });

  it("are kept while a running container is on them and removed once it has stopped; a container joins one under its aliases", async () => {
    const info = await runtime.ensureNetwork(spec());
    const started = await runtime.start({ task: testTask(node), image: TEST_IMAGE, command: ["sleep", "30"], network: { name: info.name, aliases: ["job-1-0"] } });
    const raw = await docker.getContainer(started.id).inspect();
    expect(raw.NetworkSettings.Networks[info.name]?.Aliases).toContain("job-1-0");
    const details = await runtime.inspect(started.id);
    expect(details.state !== "missing" && details.ipAddress?.split(".").slice(0, 2)).toEqual(info.gateway.split(".").slice(0, 2));
    expect(await runtime.removeNetwork(info.id)).toBe("in-use");
    await runtime.stop(started.id, { graceMs: 0 });
    expect(await runtime.removeNetwork(info.id)).toBe("removed");
    expect(await runtime.removeNetwork(info.id)).toBe("missing");
  });

  it("a container asking for a network that is not there is refused as not found, not as a missing image", async () => {
    const refused = await runtime.start({ task: testTask(node), image: TEST_IMAGE, command: ["true"], network: { name: `lh-absent-${node}` } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ContainerRuntimeError);
    expect((refused as ContainerRuntimeError).code).toBe("not_found");
  });
});
