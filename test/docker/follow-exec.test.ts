// The Docker runtime's log selection, log follow and one-shot commands against a real engine.
import Dockerode from "dockerode";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createDockerRuntime } from "../../agent/runtime";
import type { ContainerRuntime, ContainerSpec, LogStreamKind } from "../../agent/runtime";
import { cleanupNode, eventually, requireDocker, TEST_IMAGE, testTask, uniqueNode } from "../support/docker";

let docker: Dockerode;
let runtime: ContainerRuntime;
let node: string;

beforeAll(async () => {
  docker = await requireDocker();
  runtime = createDockerRuntime();
});
beforeEach(() => {
  node = uniqueNode("rt-follow");
});
afterEach(async () => {
  await cleanupNode(node, docker);
});

const spec = (command: string[]): ContainerSpec => ({ task: testTask(node), image: TEST_IMAGE, command });
const TICKER = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; echo tock $i >&2; sleep 0.2; done"];

describe("log selection", () => {
  it("reads one stream, with timestamps, or only a recent window", async () => {
    const started = await runtime.start(spec(["sh", "-c", "echo old out; echo old err >&2; sleep 8; echo new out; sleep 60"]));
    await eventually(async () => ((await runtime.logs(started.id, { tail: 10 })).includes("new out") ? true : undefined), 30_000);
    expect(await runtime.logs(started.id, { tail: 10, stream: "stderr" })).toBe("old err\n");
    expect(await runtime.logs(started.id, { tail: 10, stream: "stdout" })).toBe("old out\nnew out\n");
    const stamped = await runtime.logs(started.id, { tail: 1, timestamps: true });
    expect(stamped).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z new out\n$/);
    // "new out" came at least 8 s after the others: a 4 s window holds it alone.
    expect(await runtime.logs(started.id, { tail: 100, sinceMs: 4_000 })).toBe("new out\n");
  }, 60_000);
});

describe("followLogs", () => {
  it("hands on new output of each stream until closed, then ends once", async () => {
    const started = await runtime.start(spec(TICKER));
    await eventually(async () => ((await runtime.logs(started.id, { tail: 1 })) !== "" ? true : undefined));
    const got: Record<LogStreamKind, string> = { stdout: "", stderr: "" };
    let ends = 0;
    const follow = await runtime.followLogs(started.id, {
      tail: 0,
      onOutput: (stream, data) => (got[stream] += data.toString()),
      onEnd: () => (ends += 1),
    });
    await eventually(async () => (got.stdout.split("\n").length > 4 && got.stderr.includes("tock") ? true : undefined), 20_000);
    expect(got.stdout).not.toContain("tock");
    expect(got.stdout.startsWith("tick 1\n")).toBe(false);
    follow.close();
    const seen = got.stdout.length;
    await new Promise((r) => setTimeout(r, 1_000));
    expect(got.stdout.length).toBe(seen);
    expect(ends).toBe(1);
  }, 60_000);

  it("ends by itself when the container stops, after the lines it printed", async () => {
    const started = await runtime.start(spec(["sh", "-c", "sleep 1; echo one; echo two; exit 0"]));
    let text = "";
    const ended = new Promise<Error | undefined>((resolve) => {
      void runtime.followLogs(started.id, { tail: 100, stream: "stdout", onOutput: (_s, d) => (text += d.toString()), onEnd: resolve });
    });
    expect(await ended).toBeUndefined();
    expect(text).toBe("one\ntwo\n");
  }, 60_000);
});

describe("execCommand", () => {
  it("keeps stdout and stderr apart and returns the exit code", async () => {
    const started = await runtime.start(spec(["sleep", "60"]));
    expect(await runtime.execCommand(started.id, ["sh", "-c", "echo out; echo err >&2; exit 3"], { timeoutMs: 10_000, maxOutputBytes: 1_000 })).toEqual({
      exitCode: 3,
      stdout: "out\n",
      stderr: "err\n",
      truncated: false,
      timedOut: false,
    });
  }, 60_000);

  it("keeps the end of long output", async () => {
    const started = await runtime.start(spec(["sleep", "60"]));
    const r = await runtime.execCommand(started.id, ["sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done; echo the end"], { timeoutMs: 20_000, maxOutputBytes: 100 });
    expect(r).toMatchObject({ exitCode: 0, truncated: true, timedOut: false });
    expect(Buffer.byteLength(r.stdout)).toBe(100);
    expect(r.stdout.endsWith("line 2999\nthe end\n")).toBe(true);
  }, 60_000);

  it("kills a command at its timeout, with what it started", async () => {
    const started = await runtime.start(spec(["sleep", "60"]));
    const r = await runtime.execCommand(started.id, ["sh", "-c", "echo started; sleep 300; echo never"], { timeoutMs: 1_000, maxOutputBytes: 1_000 });
    expect(r).toMatchObject({ exitCode: null, stdout: "started\n", timedOut: true });
    const left = await runtime.execCommand(started.id, ["ps", "-o", "args"], { timeoutMs: 10_000, maxOutputBytes: 10_000 });
    expect(left.stdout).not.toContain("sleep 300");
  }, 60_000);

  it("rejects for a missing or stopped container", async () => {
    await expect(runtime.execCommand("leasehold-no-such-container", ["true"], { timeoutMs: 1_000, maxOutputBytes: 10 })).rejects.toMatchObject({ code: "not_found" });
    const started = await runtime.start(spec(["sh", "-c", "exit 0"]));
    await eventually(async () => ((await runtime.inspect(started.id)).state === "exited" ? true : undefined));
    await expect(runtime.execCommand(started.id, ["true"], { timeoutMs: 1_000, maxOutputBytes: 10 })).rejects.toMatchObject({ code: "conflict" });
  }, 60_000);
});
