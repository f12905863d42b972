// Execs against a real libSQL file, with hollow agents and a manual clock: the operator role, the audit row
// (no arguments), the round trip through a heartbeat or the request poll, answers taken once and only from
// the task's node, deadlines for requests nobody picks up or answers, and bad input.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ExecView, RequestPollResponse } from "../../api/agent-requests";
import { HollowAgent, type Fetcher } from "../../bench/hollow-agent";
import { sha256Hex } from "../../worker/hash";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { auditRows, expectJson, expectProblem } from "./helpers";

let cp: TestControlPlane;

beforeEach(async () => {
  cp = await createTestControlPlane();
});
afterEach(async () => {
  await cp.settled();
  cp.close();
});

const fetcher: Fetcher = async (path, init) => cp.app.request(path, init);

async function agent(name: string): Promise<HollowAgent> {
  const joined = await cp.call("POST", "/v1/join-tokens", { body: {} });
  const a = new HollowAgent(fetcher, name);
  await a.enroll(((await joined.json()) as { token: string }).token);
  await a.heartbeat();
  return a;
}

async function runningJob(agents: HollowAgent[], replicas = 1): Promise<string[]> {
  const res = await cp.call("POST", "/v1/jobs", { body: { name: "web", image: "img", replicas, resources: { cpu: 100, memory: 64 } } });
  expect(res.status, await res.clone().text()).toBe(200);
  for (const a of agents) {
    await a.claim();
    await a.heartbeat();
  }
  const rows = await cp.store.client.execute("SELECT id FROM tasks WHERE job_id = 'default/web' ORDER BY slot");
  return rows.rows.map((r) => String(r["id"]));
}

const exec = (body: unknown, token?: string) => cp.call("POST", "/v1/namespaces/default/jobs/web/exec", { body, ...(token ? { token } : {}) });
const read = async (id: string, query = "", token?: string) => expectJson<ExecView>(await cp.call("GET", `/v1/exec/${id}${query}`, token ? { token } : {}));

async function answer(a: HollowAgent, id: string, body: Record<string, unknown>): Promise<Response> {
  return cp.app.request(`/v1/agent/execs/${id}/result`, {
    method: "POST",
    headers: { authorization: `Bearer ${a.credential}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

const RESULT = { exitCode: 3, stdout: "out\n", stderr: "err\n" };

describe("exec", () => {
  it("needs the operator role (a viewer is refused, 403), and its audit row holds no arguments", async () => {
    const a = await agent("node-a");
    const [taskId] = await runningJob([a]);
    const viewer = await cp.token({ default: "viewer" }, "viewer");
    await expectProblem(await exec({ command: ["id"] }, viewer), 403, "forbidden");
    const operator = await cp.token({ default: "operator" }, "ops");
    const command = ["sh", "-c", "mysql --password=hunter2 -e 'select 1'"];
    const queued = await expectJson<ExecView>(await exec({ command, timeoutMs: 5_000 }, operator), 202);
    expect(queued).toMatchObject({ taskId, nodeId: a.nodeId, status: "pending", exitCode: null });

    const rows = (await auditRows(cp)).filter((r) => r.action === "exec.request");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor: "ops", namespace: "default", target: "default/web" });
    expect(JSON.parse(rows[0]!.detail!)).toEqual({ task: taskId, node: a.nodeId, argv0: "sh", args: 2, sha256: await sha256Hex(JSON.stringify(command)), timeoutMs: 5_000 });
    expect(JSON.stringify(await auditRows(cp))).not.toContain("hunter2");
    // The result, too, is the operators' to read.
    await expectProblem(await cp.call("GET", `/v1/exec/${queued.id}`, { token: viewer }), 403, "forbidden");
  });

  it("goes to the agent with its heartbeat, and its answer comes back once, from that node only", async () => {
    const one = await agent("node-a");
    const two = await agent("node-b");
    await runningJob([one, two]);
    const onOne = (await cp.store.client.execute("SELECT node_id FROM tasks")).rows[0]?.["node_id"] === one.nodeId;
    const [a, b] = onOne ? [one, two] : [two, one];
    const queued = await expectJson<ExecView>(await exec({ command: ["sh", "-c", "echo out; echo err >&2; exit 3"] }), 202);
    const waiting = read(queued.id, "?wait=20s");

    const reply = await a.heartbeat();
    expect(reply.execs).toEqual([{ id: queued.id, taskId: queued.taskId, command: ["sh", "-c", "echo out; echo err >&2; exit 3"], timeoutMs: 30_000 }]);
    expect((await a.heartbeat()).execs).toBeUndefined();
    expect((await read(queued.id)).status).toBe("sent");

    await expectProblem(await answer(b, queued.id, RESULT), 403, "forbidden");
    expect((await answer(a, queued.id, RESULT)).status).toBe(200);
    const done = await waiting;
    expect(done).toMatchObject({ status: "done", exitCode: 3, stdout: "out\n", stderr: "err\n", truncated: false, timedOut: false, error: null });
    await expectProblem(await answer(a, queued.id, { ...RESULT, exitCode: 0 }), 410, "gone");
    expect((await read(queued.id)).exitCode).toBe(3);
    // Once answered, the row no longer holds the command.
    const spec = await cp.store.client.execute({ sql: "SELECT spec FROM agent_requests WHERE id = ?", args: [queued.id] });
    expect(JSON.parse(String(spec.rows[0]?.["spec"]))).toEqual({ timeoutMs: 30_000 });
  });

  it("reaches an agent sooner through its request poll, and an answer may say the command could not run", async () => {
    const a = await agent("node-a");
    await runningJob([a]);
    const queued = await expectJson<ExecView>(await exec({ command: ["true"] }), 202);
    const res = await cp.app.request("/v1/agent/requests", { method: "POST", headers: { authorization: `Bearer ${a.credential}` } });
    const polled = (await res.json()) as RequestPollResponse;
    expect(polled.execs.map((e) => e.id)).toEqual([queued.id]);
    expect((await answer(a, queued.id, { exitCode: null, stdout: "", stderr: "", error: "task has no running container on this node" })).status).toBe(200);
    expect(await read(queued.id)).toMatchObject({ status: "failed", error: "task has no running container on this node" });
  });

  it("fails when no agent picks it up in time, or its agent never answers; a late answer is refused", async () => {
    const a = await agent("node-a");
    await runningJob([a]);
    const unclaimed = await expectJson<ExecView>(await exec({ command: ["true"] }), 202);
    cp.clock.advance(31_000);
    // A refused read changes nothing, not even the failure its deadline calls for.
    await expectProblem(await cp.call("GET", `/v1/exec/${unclaimed.id}`, { token: await cp.token({ default: "viewer" }) }), 403, "forbidden");
    const stored = await cp.store.client.execute({ sql: "SELECT status FROM agent_requests WHERE id = ?", args: [unclaimed.id] });
    expect(stored.rows[0]?.["status"]).toBe("pending");
    expect(await read(unclaimed.id)).toMatchObject({ status: "failed", error: expect.stringContaining("no agent picked the command up in time") });
    expect((await a.heartbeat()).execs).toBeUndefined();

    const unanswered = await expectJson<ExecView>(await exec({ command: ["sleep", "1000"], timeoutMs: 5_000 }), 202);
    expect((await a.heartbeat()).execs?.map((e) => e.id)).toEqual([unanswered.id]);
    cp.clock.advance(10_000);
    expect((await read(unanswered.id)).status).toBe("sent");
    cp.clock.advance(11_000); // past the timeout and the 15 s grace
    expect(await read(unanswered.id)).toMatchObject({ status: "failed", error: "the agent took the command but sent no answer within its timeout (5s) and 15s more" });
    const late = await expectProblem(await answer(a, unanswered.id, RESULT), 410, "gone");
    expect(late.detail).toBe("the exec has failed: its answer is no longer taken");
  });

  it("needs a task named when the job runs several, and lists them", async () => {
    const a = await agent("node-a");
    const tasks = await runningJob([a], 2);
    const refused = await expectProblem(await exec({ command: ["id"] }), 400, "validation");
    expect(refused.errors?.map((e) => e.path)).toEqual(["taskId"]);
    for (const t of tasks) expect(refused.detail).toContain(`${t.slice(0, 8)} (slot ${tasks.indexOf(t)} on node-a)`);
    const chosen = await expectJson<ExecView>(await exec({ command: ["id"], taskId: tasks[1]!.slice(0, 8) }), 202);
    expect(chosen.taskId).toBe(tasks[1]);
    expect((await expectProblem(await exec({ command: ["id"], taskId: "zzzz" }), 404, "not-found")).detail).toBe("job default/web has no running task zzzz");
  });

  it("refuses bad input with field paths and writes nothing", async () => {
    const a = await agent("node-a");
    await runningJob([a]);
    const before = await auditRows(cp);
    const paths = async (res: Response) => ((await expectProblem(res, 400, "validation")).errors ?? []).map((e) => e.path);
    expect(await paths(await exec({ command: [] }))).toEqual(["command"]);
    expect(await paths(await exec({ command: ["id"], timeoutMs: 10, tty: true }))).toEqual(["timeoutMs", "tty"]);
    expect(await paths(await exec({ command: "id" }))).toEqual(["command"]);
    expect(await paths(await cp.call("GET", "/v1/exec/x?wait=forever"))).toEqual(["query.wait"]);
    expect(await paths(await answer(a, "x", { exitCode: "3", stdout: "" }))).toEqual(["exitCode", "stderr"]);
    expect(await auditRows(cp)).toEqual(before);
    expect(Number((await cp.store.client.execute("SELECT count(*) AS n FROM agent_requests")).rows[0]?.["n"])).toBe(0);
    await expectProblem(await cp.call("GET", "/v1/exec/nope"), 404, "not-found");
  });
});
