// `leasehold logs -f` and `leasehold exec` in-process against a real control plane (Node server, libSQL
// file), with hollow agents answering follows and execs as the agent does: chunks posted with the node's
// credential, answers posted once.
import { EventEmitter } from "node:events";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FollowOrder } from "../../api/agent-requests";
import type { HollowAgent } from "../../bench/hollow-agent";
import { runCli } from "../../cli/main";
import { eventually, startCliHarness, type CliHarness } from "./harness";

let h: CliHarness;
const loops: (() => Promise<void>)[] = [];

beforeEach(async () => {
  h = await startCliHarness();
});
afterEach(async () => {
  for (const stop of loops.splice(0)) await stop();
  await h.close();
});

const JOB = "name: web\nimage: nginx:1.27\nreplicas: 2\nresources: { cpu: 100, memory: 64 }\n";

async function runningJob(replicas: number): Promise<{ agent: HollowAgent; tasks: string[] }> {
  const agent = await h.enroll("node-a");
  await h.cli(["apply", h.jobFile("web.yaml", JOB.replace("replicas: 2", `replicas: ${replicas}`))]);
  await agent.claim();
  await agent.heartbeat();
  const detail = await h.api<{ tasks: { id: string; slot: number }[] }>("GET", "/v1/namespaces/default/jobs/web");
  return { agent, tasks: detail.tasks.sort((a, b) => a.slot - b.slot).map((t) => t.id) };
}

async function post(agent: HollowAgent, path: string, body: unknown): Promise<Response> {
  return fetch(h.server.url + path, { method: "POST", headers: { authorization: `Bearer ${agent.credential}`, "content-type": "application/json" }, body: JSON.stringify(body) });
}

/** Heartbeats as an agent would, handing each follow and exec it is given to `onFollow` / `onExec`. */
function serve(agent: HollowAgent, handlers: { onFollow?: (o: FollowOrder) => Promise<void>; onExec?: (o: { id: string; command: string[] }) => Promise<void> }): void {
  let running = true;
  const loop = (async () => {
    while (running) {
      const reply = await agent.heartbeat();
      for (const f of reply.follows ?? []) void handlers.onFollow?.(f);
      for (const e of reply.execs ?? []) await handlers.onExec?.(e);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  loops.push(async () => {
    running = false;
    await loop;
  });
}

/** The CLI with its signals in the test's hands, and what it has printed so far. */
function startCli(args: string[], fetchFn: typeof fetch = globalThis.fetch) {
  const signals = new EventEmitter();
  const out = { stdout: "", stderr: "" };
  const done = runCli(args, {
    stdout: { write: (s: string | Uint8Array) => (out.stdout += String(s)) },
    stderr: { write: (s: string | Uint8Array) => (out.stderr += String(s)) },
    env: { HOME: h.dir, XDG_CONFIG_HOME: `${h.dir}/xdg`, LEASEHOLD_ADDR: h.server.url, LEASEHOLD_TOKEN: h.token },
    fetch: fetchFn,
    signals,
  });
  return { signals, out, done };
}

async function followStatus(id: string): Promise<string | undefined> {
  const rs = await h.server.controlPlane.deps.store.client.execute({ sql: "SELECT status FROM agent_requests WHERE id = ?", args: [id] });
  return rs.rows[0]?.["status"] as string | undefined;
}

describe("logs -f", () => {
  it("prints lines as they come, with the task in front when there are several, and closes the follow on Ctrl-C", async () => {
    const { agent, tasks } = await runningJob(2);
    const orders: FollowOrder[] = [];
    serve(agent, {
      onFollow: async (o) => {
        orders.push(o);
        const slot = tasks.indexOf(o.taskId);
        const res = await post(agent, `/v1/agent/follows/${o.id}/chunks`, { seq: 0, output: [{ stream: "stdout", text: `2026-01-01T00:00:0${slot}.5Z hello from slot ${slot}\n` }] });
        expect(res.status).toBe(200);
      },
    });
    const cli = startCli(["logs", "-f", "web", "--tail", "5"]);
    await eventually(async () => (cli.out.stdout.split("\n").length > 2 ? true : undefined), "both tasks' lines");
    expect(cli.out.stdout.split("\n").filter(Boolean).sort()).toEqual([`[${tasks[0]!.slice(0, 8)}] hello from slot 0`, `[${tasks[1]!.slice(0, 8)}] hello from slot 1`].sort());
    expect(cli.out.stderr).toContain("waiting for the agent on node-a");
    expect(orders.map((o) => [o.tail, o.timestamps])).toEqual([
      [5, true],
      [5, true],
    ]);
    cli.signals.emit("SIGINT");
    expect(await cli.done).toBe(0);
    expect(cli.signals.listenerCount("SIGINT") + cli.signals.listenerCount("SIGTERM")).toBe(0);
    for (const o of orders) await eventually(async () => ((await followStatus(o.id)) === "closed" ? true : undefined), "the follow to close");
    expect((await post(agent, `/v1/agent/follows/${orders[0]!.id}/chunks`, { seq: 1, output: [{ stream: "stdout", text: "late\n" }] })).status).toBe(410);
  });

  it("opens the stream again when it drops, from just before the last line, printing no line twice", async () => {
    const { agent } = await runningJob(1);
    const orders: FollowOrder[] = [];
    serve(agent, {
      onFollow: async (o) => {
        orders.push(o);
        // A second follow replays what the engine still has in its window, as docker logs --since would.
        const lines = ["2026-01-01T00:00:01Z one\n", "2026-01-01T00:00:02.25Z two\n", ...(orders.length > 1 ? ["2026-01-01T00:00:03Z three\n"] : [])];
        await post(agent, `/v1/agent/follows/${o.id}/chunks`, { seq: 0, output: [{ stream: "stdout", text: lines.join("") }] });
      },
    });
    // The first stream is cut once it has carried output, as a proxy that drops the connection would.
    let cut = false;
    const cutting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (cut || !res.headers.get("content-type")?.startsWith("text/event-stream") || !res.body) return res;
      cut = true;
      const reader = res.body.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          controller.enqueue(value);
          if (new TextDecoder().decode(value).includes('"type":"output"')) {
            await reader.cancel();
            controller.close();
          }
        },
      });
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const cli = startCli(["logs", "-f", "web", "--timestamps"], cutting);
    await eventually(async () => (cli.out.stdout.includes("three") ? true : undefined), "the line after the reconnection");
    expect(cli.out.stdout).toBe("2026-01-01T00:00:01Z one\n2026-01-01T00:00:02.25Z two\n2026-01-01T00:00:03Z three\n");
    expect(cli.out.stderr).toContain("the log stream ended; opening it again");
    expect(orders).toHaveLength(2);
    // The second asks for the window since the last line seen, not a tail.
    expect(orders[1]).toMatchObject({ tail: 10_000, sinceMs: expect.any(Number) });
    cli.signals.emit("SIGINT");
    expect(await cli.done).toBe(0);
  });

  it("says plainly when the job does not exist", async () => {
    const r = await h.cli(["logs", "-f", "nosuchjob"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("nosuchjob");
  });
});

describe("exec", () => {
  it("prints the command's stdout and stderr apart and exits with its exit code", async () => {
    const { agent, tasks } = await runningJob(1);
    const seen: { id: string; command: string[] }[] = [];
    serve(agent, {
      onExec: async (e) => {
        seen.push(e);
        await post(agent, `/v1/agent/execs/${e.id}/result`, { exitCode: 3, stdout: "out\n", stderr: "err\n" });
      },
    });
    const r = await h.cli(["exec", "web", "--timeout", "5s", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(r).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
    expect(seen.map((e) => e.command)).toEqual([["sh", "-c", "echo out; echo err >&2; exit 3"]]);
    const audit = await h.api<{ entries: { action: string; target: string; detail: Record<string, unknown> }[] }>("GET", "/v1/audit?action=exec.request");
    expect(audit.entries[0]).toMatchObject({ target: "default/web", detail: { task: tasks[0], argv0: "sh", args: 2 } });
  });

  it("names the tasks to choose from when the job runs several, and says why a command could not run", async () => {
    const { agent, tasks } = await runningJob(2);
    const several = await h.cli(["exec", "web", "--", "id"]);
    expect(several.code).toBe(1);
    expect(several.stderr).toBe(`error: job default/web runs 2 tasks, so one must be named: ${tasks[0]!.slice(0, 8)} (slot 0 on node-a), ${tasks[1]!.slice(0, 8)} (slot 1 on node-a); pick one with --task\n`);
    serve(agent, { onExec: async (e) => void (await post(agent, `/v1/agent/execs/${e.id}/result`, { exitCode: null, stdout: "", stderr: "", error: "the task has no running container on this node" })) });
    const failed = await h.cli(["exec", "web", "--task", tasks[1]!.slice(0, 8), "--", "id"]);
    expect(failed).toEqual({ code: 1, stdout: "", stderr: "error: the task has no running container on this node\n" });
  });
});
