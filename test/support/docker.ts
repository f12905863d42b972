// Docker test helpers: fail loudly when no engine answers, the local test image, per-node cleanup.
import { randomUUID } from "node:crypto";
import Dockerode from "dockerode";
import { nodeSelector } from "../../agent/runtime/labels";
import type { NodeOwner, TaskIdentity } from "../../agent/runtime/labels";

/** Built locally by scripts/ensure-docker.sh from a static busybox: /bin/sh, busybox applets, /www/index.html. */
export const TEST_IMAGE = process.env["LEASEHOLD_TEST_IMAGE"] ?? "leasehold-test/busybox:latest";

export function dockerEndpoint(): string {
  return process.env["DOCKER_HOST"] || "unix:///var/run/docker.sock";
}

/**
 * A client for the engine the suites run against; throws (never skips) when it does not answer or
 * lacks the test image. `docker` and `endpoint` are for testing this guard itself.
 */
export async function requireDocker(docker: Dockerode = new Dockerode(), endpoint: string = dockerEndpoint()): Promise<Dockerode> {
  try {
    await within(docker.ping(), 5_000);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`no Docker engine answers at ${endpoint} (${why}); run bash scripts/ensure-docker.sh`, { cause: error });
  }
  try {
    await within(docker.getImage(TEST_IMAGE).inspect(), 5_000);
  } catch (error) {
    throw new Error(`test image ${TEST_IMAGE} is missing from the engine at ${endpoint}; run bash scripts/ensure-docker.sh`, { cause: error });
  }
  return docker;
}

/** Removes every container labelled with `node`, running or not, and then the node's networks. */
export async function cleanupNode(node: string, docker: Dockerode = new Dockerode()): Promise<void> {
  const rows = await docker.listContainers({ all: true, filters: { label: [nodeSelector(node)] } });
  await Promise.all(
    rows.map((row) =>
      docker
        .getContainer(row.Id)
        .remove({ force: true, v: true })
        .catch((error: unknown) => {
          const status = typeof error === "object" && error !== null && "statusCode" in error ? error.statusCode : undefined;
          if (status !== 404 && status !== 409) throw error;
        }),
    ),
  );
  // A stopped agent leaves its job networks behind; left here, they would use up the engine's address pools.
  const networks = await docker.listNetworks({ filters: { label: [nodeSelector(node)] } });
  await Promise.all(networks.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
}

/** A node name no other test (or concurrent run) uses. */
export function uniqueNode(prefix = "test"): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** The cluster test containers belong to unless a test says otherwise. */
export const TEST_CLUSTER = "test-cluster";

/** The owner of `node`'s test containers: the node name doubles as its id. */
export function testOwner(node: string, cluster = TEST_CLUSTER): NodeOwner {
  return { cluster, nodeId: node };
}

/** A task identity on `node` with a fresh task id. */
export function testTask(node: string, overrides: Partial<TaskIdentity> = {}): TaskIdentity {
  return { task: randomUUID(), job: "web", namespace: "default", slot: 0, version: 1, epoch: 1, node, ...testOwner(node), ...overrides };
}

/** Polls `fn` every `everyMs` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 5_000, what = "condition", everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} not reached within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
