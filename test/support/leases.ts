// Lease grants as a claim hands them over, signed here with a test key: for suites that drive the
// supervisor without a control plane.
import { randomUUID } from "node:crypto";
import type { TaskSpec } from "../../api/agent-protocol";
import { payloadHash } from "../../api/payload-hash";
import type { SigningKeys } from "../../worker/auth/keys";
import { signLease } from "../../worker/leases/lease-token";
import { TEST_IMAGE } from "./docker";

/** A claim's grant: the token, and the payload beside it (and, for a sealed task, its sealed secrets). */
export type Grant = { taskId: string; lease: string; task: TaskSpec; sealed?: string };

/** A batch task on the test image running `command`, restarted never unless told. */
export function testTaskSpec(command: string[], restart: Partial<TaskSpec["restart"]> = {}): TaskSpec {
  return {
    jobId: randomUUID(),
    namespace: "default",
    job: "once",
    slot: 0,
    version: 1,
    type: "batch",
    image: TEST_IMAGE,
    command,
    env: {},
    resources: { cpu: 50, memory: 16 },
    ports: [],
    restart: { mode: "never", attempts: 0, intervalMs: 60_000, delayMs: 100, ...restart },
    disconnect: { policy: "keep", afterMs: 60_000 },
    stopGraceMs: 500,
  };
}

/** A grant of `task` to `nodeId` (a fresh task id and epoch 1 unless given), valid for a minute. */
export async function grantFor(keys: SigningKeys, nodeId: string, task: TaskSpec, at: { taskId?: string; epoch?: number; version?: number } = {}): Promise<Grant> {
  const taskId = at.taskId ?? randomUUID();
  const lease = await signLease(
    keys,
    { now: () => Date.now() },
    { taskId, nodeId, epoch: at.epoch ?? 1, version: at.version ?? task.version, payloadHash: await payloadHash(task) },
    60_000,
  );
  return { taskId, lease, task };
}
