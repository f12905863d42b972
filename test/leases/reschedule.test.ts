// A copy that cannot start (its image cannot be pulled, say) is re-placed under the job's reschedule
// policy: backing off exponentially, and given up on once its attempts are spent, with its last error
// kept where an operator looks (the task's message, `final` in the job's detail, a job event).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HollowAgent, type Fetcher } from "../../bench/hollow-agent";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";

let cp: TestControlPlane;
const fetcher: Fetcher = async (path, init) => cp.app.request(path, init);

beforeEach(async () => {
  cp = await createTestControlPlane();
});
afterEach(() => cp.close());

async function enrolledAgent(name: string): Promise<HollowAgent> {
  const res = await cp.call("POST", "/v1/join-tokens", { body: {} });
  const { token } = (await res.json()) as { token: string };
  const a = new HollowAgent(fetcher, name);
  await a.enroll(token);
  await a.heartbeat();
  return a;
}

async function apply(spec: Record<string, unknown>): Promise<string> {
  const res = await cp.call("POST", "/v1/jobs", { body: { image: "registry.invalid/nothing:1", resources: { cpu: 100, memory: 64 }, ...spec } });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { job: { id: string } }).job.id;
}

interface PublicTask {
  id: string;
  state: string;
  epoch: number;
  attempt: number;
  message: string | null;
  final: boolean;
}

async function detail(name: string): Promise<PublicTask[]> {
  const res = await cp.call("GET", `/v1/namespaces/default/jobs/${name}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { tasks: PublicTask[] }).tasks;
}

/**
 * One simulated second: the instance's timer, then an agent that fails every copy it is handed at once,
 * as an agent does whose pulls fail. Returns the epochs it was handed.
 */
async function failingSecond(a: HollowAgent): Promise<number[]> {
  cp.clock.advance(1_000);
  await cp.tick();
  await cp.settled();
  const handed = (await a.claim()).leases.map((l) => l.epoch);
  for (const l of a.leases.values()) {
    l.state = "failed";
    l.message = "pull failed: registry.invalid/nothing:1: no such host";
  }
  await a.heartbeat();
  await cp.settled();
  return handed;
}

describe("a copy that cannot start", () => {
  it("is re-placed with exponential backoff under the default policy, then its slot stays failed with its last error", async () => {
    const a = await enrolledAgent("node-a");
    const jobId = await apply({ name: "broken" });
    const handedAt: { second: number; epoch: number }[] = [];
    for (let second = 1; second <= 600; second++) {
      for (const epoch of await failingSecond(a)) handedAt.push({ second, epoch });
    }
    // Ten minutes of an agent failing every copy at once: before, the slot was re-placed on every report
    // (600 epochs here; ~55 a second with a real agent). The default policy allows 3 replacements within
    // an hour, 5 s, 10 s, then 20 s after each failure.
    expect(handedAt.map((h) => h.epoch)).toEqual([1, 2, 3, 4]);
    const gaps = handedAt.slice(1).map((h, i) => h.second - (handedAt[i] as { second: number }).second);
    expect(gaps).toEqual([5, 10, 20]);

    const [task] = await detail("broken");
    expect(task).toMatchObject({ state: "failed", epoch: 4, attempt: 3, final: true });
    expect(task?.message).toBe(
      "reschedule attempts spent: slot 0 was replaced 3 times within 1h (last failed); last error: pull failed: registry.invalid/nothing:1: no such host",
    );
    const events = await cp.store.client.execute({ sql: "SELECT type, message FROM events WHERE job_id = ? AND type = 'task.given-up'", args: [jobId] });
    expect(events.rows).toHaveLength(1);

    // Later sweeps leave it alone: no new epoch, no second event, the message written once.
    for (let second = 0; second < 30; second++) expect(await failingSecond(a)).toEqual([]);
    expect((await detail("broken"))[0]).toMatchObject({ epoch: 4, final: true, message: task?.message });
    const again = await cp.store.client.execute({ sql: "SELECT count(*) AS n FROM events WHERE job_id = ? AND type = 'task.given-up'", args: [jobId] });
    expect(Number(again.rows[0]?.["n"])).toBe(1);
  });

  it("keeps the failed copy's error visible while its slot waits out the backoff, and is not final then", async () => {
    const a = await enrolledAgent("node-a");
    await apply({ name: "broken", reschedule: { attempts: 2, delay: "30s" } });
    await failingSecond(a);
    const [waiting] = await detail("broken");
    expect(waiting).toMatchObject({ state: "failed", epoch: 1, final: false, message: "pull failed: registry.invalid/nothing:1: no such host" });
    // The node stays in touch (heartbeats, nothing claimed) while the slot waits.
    const idle = async (ms: number) => {
      for (let t = 0; t < ms; t += 1_000) {
        cp.clock.advance(1_000);
        await a.heartbeat();
        await cp.tick();
        await cp.settled();
      }
    };
    await idle(29_000);
    expect((await detail("broken"))[0]).toMatchObject({ state: "failed", epoch: 1 });
    await idle(1_000);
    // Re-placed: the previous copy's error stays until the new copy's agent reports.
    const [replaced] = await detail("broken");
    expect(replaced).toMatchObject({ state: "placed", epoch: 2, final: false, message: "previous copy failed: pull failed: registry.invalid/nothing:1: no such host" });
  });

  it("says a completed batch task and a stopped job's tasks are final, and a running one is not", async () => {
    const a = await enrolledAgent("node-a");
    await apply({ name: "once", type: "batch", replicas: 2 });
    await apply({ name: "web" });
    await a.claim();
    const batchIds = new Set((await detail("once")).map((t) => t.id));
    const batch = [...a.leases.values()].filter((l) => batchIds.has(l.taskId));
    expect(batch).toHaveLength(2);
    (batch[0] as { state: string }).state = "complete";
    await a.heartbeat();
    expect((await detail("once")).map((t) => [t.state, t.final]).sort()).toEqual([
      ["complete", true],
      ["running", false],
    ]);
    expect((await cp.call("POST", "/v1/namespaces/default/jobs/web/stop")).status).toBe(200);
    expect((await detail("web")).map((t) => t.final)).toEqual([true]);
  });
});
