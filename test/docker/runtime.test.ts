// The Docker runtime adapter against a real engine and the local busybox test image.
import net from "node:net";
import Dockerode from "dockerode";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ContainerRuntimeError, createDockerRuntime, LABELS } from "../../agent/runtime";
import type { ContainerEvent, ContainerRuntime, ContainerSpec } from "../../agent/runtime";
import { cleanupNode, eventually, requireDocker, TEST_IMAGE, testOwner, testTask, uniqueNode } from "../support/docker";

const SLEEP = ["sh", "-c", "sleep 30"];
const HTTPD = ["httpd", "-f", "-p", "8080", "-h", "/www"];

let docker: Dockerode;
let runtime: ContainerRuntime;
let node: string;

beforeAll(async () => {
  docker = await requireDocker();
  runtime = createDockerRuntime();
});

beforeEach(() => {
  node = uniqueNode("rt");
});

afterEach(async () => {
  await cleanupNode(node, docker);
});

function spec(overrides: Partial<ContainerSpec> = {}, onNode = node): ContainerSpec {
  return { task: testTask(onNode), image: TEST_IMAGE, command: SLEEP, ...overrides };
}

async function exited(id: string, timeoutMs = 5_000): Promise<void> {
  await eventually(async () => ((await runtime.inspect(id)).state === "exited" ? true : undefined), timeoutMs, `container ${id} exited`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

describe("requireDocker", () => {
  it("fails loudly, naming the endpoint and the fix, when no engine answers", async () => {
    const nowhere = new Dockerode({ socketPath: "/nonexistent/docker.sock" });
    await expect(requireDocker(nowhere, "unix:///nonexistent/docker.sock")).rejects.toThrow(
      /^no Docker engine answers at unix:\/\/\/nonexistent\/docker\.sock \(.+\); run bash scripts\/ensure-docker\.sh$/,
    );
  });
});

describe("start and inspect", () => {
  it("applies cpu and memory limits, env, command, labels and a sanitised name", async () => {
    const task = testTask(node, { job: "Web_App", slot: 2, epoch: 5, version: 3 });
    const started = await runtime.start({
      task,
      image: TEST_IMAGE,
      command: ["sh", "-c", 'echo "greeting=$GREETING"; sleep 30'],
      env: { GREETING: "hello there" },
      cpuMillis: 250,
      memoryMiB: 32,
      labels: { team: "infra" },
      restore: { lease: "eyJhbGciOiJFZERTQSJ9.payload.sig", health: { type: "tcp", port: 8080 } },
    });

    const raw = await docker.getContainer(started.id).inspect();
    expect(raw.HostConfig.NanoCpus).toBe(250_000_000);
    expect(raw.HostConfig.Memory).toBe(32 * 1024 * 1024);
    expect(raw.HostConfig.RestartPolicy?.Name).toBe("no");
    expect(raw.Config.Env).toContain("GREETING=hello there");

    const info = await runtime.inspect(started.id);
    if (info.state === "missing") throw new Error("container missing");
    expect(info.state).toBe("running");
    expect(info.name).toBe(started.name);
    expect(info.name).toMatch(new RegExp(`^leasehold-Web_App-2-${task.task.replace(/-/g, "").slice(0, 8)}-e5-${node}$`));
    expect(info.resources).toEqual({ nanoCpus: 250_000_000, memoryBytes: 32 * 1024 * 1024 });
    expect(info.task).toEqual(task);
    expect(info.restore).toEqual({ lease: "eyJhbGciOiJFZERTQSJ9.payload.sig", health: { type: "tcp", port: 8080 } });
    expect(info.labels["team"]).toBe("infra");
    expect(info.labels[LABELS.node]).toBe(node);
    expect(info.exitCode).toBeNull();
    expect(info.startedAt).toBeInstanceOf(Date);
    expect(info.finishedAt).toBeNull();
    expect(info.oomKilled).toBe(false);
    expect(info.restartCount).toBe(0);
    expect(info.ipAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    const logs = await eventually(async () => {
      const text = await runtime.logs(started.id, { tail: 10 });
      return text.includes("greeting=") ? text : undefined;
    });
    expect(logs).toBe("greeting=hello there\n");
  });

  it("reports the dynamic host port it bound, and it serves HTTP", async () => {
    const started = await runtime.start(spec({ command: HTTPD, ports: [{ container: 8080 }] }));
    expect(started.hostPorts).toHaveLength(1);
    const [port] = started.hostPorts;
    expect(port?.container).toBe(8080);
    expect(port?.protocol).toBe("tcp");
    expect(port?.host).toBeGreaterThan(0);

    const body = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${port?.host}/index.html`);
      return res.ok ? res.text() : undefined;
    }, 5_000, "httpd answers");
    expect(body).toBe("leasehold test page\n");

    const info = await runtime.inspect(started.id);
    expect(info.state !== "missing" && info.hostPorts).toEqual(started.hostPorts);
  });

  it("binds a static host port when asked", async () => {
    const host = await freePort();
    const started = await runtime.start(spec({ command: HTTPD, ports: [{ container: 8080, host }] }));
    expect(started.hostPorts).toEqual([{ container: 8080, host, protocol: "tcp" }]);
  });

  it("rejects reserved labels, a missing image and a taken name with typed errors", async () => {
    await expect(runtime.start(spec({ labels: { [LABELS.epoch]: "9" } }))).rejects.toMatchObject({ code: "invalid_spec" });
    await expect(runtime.start(spec({ image: "leasehold-test/not-here:never" }))).rejects.toMatchObject({ code: "image_unavailable" });
    const task = testTask(node);
    await runtime.start({ task, image: TEST_IMAGE, command: SLEEP });
    const clash = runtime.start({ task, image: TEST_IMAGE, command: SLEEP });
    await expect(clash).rejects.toBeInstanceOf(ContainerRuntimeError);
    await expect(clash).rejects.toMatchObject({ code: "conflict" });
  });

  it("reports the exit code and finish time of a container that exits", async () => {
    const started = await runtime.start(spec({ command: ["sh", "-c", "exit 3"] }));
    await exited(started.id);
    const info = await runtime.inspect(started.id);
    if (info.state === "missing") throw new Error("container missing");
    expect(info.exitCode).toBe(3);
    expect(info.finishedAt).toBeInstanceOf(Date);
    expect(info.oomKilled).toBe(false);
  });
});

describe("stop and remove", () => {
  it("stops a container that handles SIGTERM within the grace period, exit 0", async () => {
    const started = await runtime.start(spec({ command: ["sh", "-c", 'trap "exit 0" TERM; while true; do sleep 0.2; done'] }));
    await new Promise((r) => setTimeout(r, 300)); // let the shell install its trap
    const began = Date.now();
    const result = await runtime.stop(started.id, { graceMs: 5_000 });
    expect(result).toEqual({ outcome: "graceful", exitCode: 0 });
    expect(Date.now() - began).toBeLessThan(2_000);
  });

  it("kills a container that ignores SIGTERM once the grace period is over", async () => {
    // PID 1 without a TERM handler ignores SIGTERM.
    const started = await runtime.start(spec({ command: ["sh", "-c", "while true; do sleep 0.2; done"] }));
    const began = Date.now();
    const result = await runtime.stop(started.id, { graceMs: 800 });
    const took = Date.now() - began;
    expect(result).toEqual({ outcome: "killed", exitCode: 137 });
    expect(took).toBeGreaterThanOrEqual(800);
    expect(took).toBeLessThan(3_000);
  });

  it("is idempotent: stopping a stopped or removed container and removing twice are fine", async () => {
    const started = await runtime.start(spec({ command: ["sh", "-c", "exit 0"] }));
    await exited(started.id);
    expect(await runtime.stop(started.id, { graceMs: 100 })).toEqual({ outcome: "already-stopped", exitCode: 0 });
    await runtime.remove(started.id);
    await runtime.remove(started.id);
    expect(await runtime.stop(started.id, { graceMs: 100 })).toEqual({ outcome: "missing", exitCode: null });
    expect(await runtime.inspect(started.id)).toEqual({ id: started.id, state: "missing" });
  });

  it("removes a running container", async () => {
    const started = await runtime.start(spec());
    await runtime.remove(started.id);
    expect((await runtime.inspect(started.id)).state).toBe("missing");
  });
});

describe("logs, stats, exec", () => {
  it("returns the last N lines of stdout and stderr", async () => {
    const started = await runtime.start(
      spec({ command: ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; sleep 0.2; echo oops >&2; sleep 30"] }),
    );
    await eventually(async () => ((await runtime.logs(started.id, { tail: 100 })).includes("oops") ? true : undefined));
    expect(await runtime.logs(started.id, { tail: 3 })).toBe("line4\nline5\noops\n");
    expect(await runtime.logs(started.id, { tail: 100 })).toBe("line1\nline2\nline3\nline4\nline5\noops\n");
  });

  it("samples cpu and memory", async () => {
    const started = await runtime.start(spec({ command: ["sh", "-c", "while true; do :; done"], cpuMillis: 500, memoryMiB: 64 }));
    const sample = await runtime.stats(started.id);
    expect(sample.memoryLimitBytes).toBe(64 * 1024 * 1024);
    expect(sample.memoryBytes).toBeGreaterThan(0);
    expect(sample.memoryBytes).toBeLessThan(sample.memoryLimitBytes);
    // A busy loop capped at half a core.
    expect(sample.cpuPercent).toBeGreaterThan(5);
    expect(sample.cpuPercent).toBeLessThan(90);
    // The busy loop has run for at least the second the sample took, at half a core: well past 0.1 s.
    expect(sample.cpuSeconds).toBeGreaterThan(0.1);
    const later = await runtime.stats(started.id);
    expect(later.cpuSeconds).toBeGreaterThan(sample.cpuSeconds);
  });

  it("runs a command inside and returns its exit code and output", async () => {
    const started = await runtime.start(spec());
    const result = await runtime.exec(started.id, ["sh", "-c", "echo hi; echo there >&2; exit 4"], { timeoutMs: 5_000 });
    expect(result.exitCode).toBe(4);
    expect(result.output).toContain("hi\n");
    expect(result.output).toContain("there\n");
    expect(await runtime.exec(started.id, ["cat", "/www/index.html"], { timeoutMs: 5_000 })).toEqual({
      exitCode: 0,
      output: "leasehold test page\n",
    });
  });

  it("bounds exec by its timeout and reports a missing or stopped container", async () => {
    const started = await runtime.start(spec());
    const began = Date.now();
    await expect(runtime.exec(started.id, ["sleep", "5"], { timeoutMs: 300 })).rejects.toMatchObject({ code: "timeout" });
    expect(Date.now() - began).toBeLessThan(1_500);
    await expect(runtime.exec("leasehold-no-such-container", ["true"], { timeoutMs: 1_000 })).rejects.toMatchObject({ code: "not_found" });
    await runtime.stop(started.id, { graceMs: 100 });
    await expect(runtime.exec(started.id, ["true"], { timeoutMs: 1_000 })).rejects.toMatchObject({ code: "conflict" });
  });
});

describe("list and events", () => {
  it("lists only the containers of the asked node", async () => {
    const other = uniqueNode("rt-other");
    try {
      const mine = await runtime.start(spec());
      const theirs = await Promise.all([runtime.start(spec({}, other)), runtime.start(spec({ command: ["sh", "-c", "exit 1"] }, other))]);
      const done = await runtime.start(spec({ command: ["sh", "-c", "exit 0"] }));
      await exited(done.id);

      const running = await runtime.list({ owner: testOwner(node) });
      expect(running.map((c) => c.id)).toEqual([mine.id]);
      expect(running[0]?.task?.node).toBe(node);
      expect(running[0]?.state).toBe("running");

      const all = await runtime.list({ owner: testOwner(node), all: true });
      expect(all.map((c) => c.id).sort()).toEqual([mine.id, done.id].sort());

      await exited(theirs[1]?.id ?? "");
      const otherAll = await runtime.list({ owner: testOwner(other), all: true });
      expect(otherAll.map((c) => c.id).sort()).toEqual(theirs.map((c) => c.id).sort());
      expect(await runtime.list({ owner: testOwner(uniqueNode("nobody")), all: true })).toEqual([]);
    } finally {
      await cleanupNode(other, docker);
    }
  });

  it("lists and reports events only for its owner: a node of the same name in another cluster, or another id under the same name, is not seen", async () => {
    const owner = testOwner(node);
    const seen: ContainerEvent[] = [];
    const unsubscribe = await runtime.events({ owner }, (event) => seen.push(event));
    try {
      const mine = await runtime.start(spec());
      // Same node name (and id), other cluster: staging and prod on one engine.
      const otherCluster = await runtime.start({ ...spec(), task: testTask(node, { cluster: "other-cluster" }) });
      // Same cluster and name, other node id: the name was re-enrolled by another host, or two agents share it.
      const otherNode = await runtime.start({ ...spec(), task: testTask(node, { nodeId: `${node}-other` }) });
      for (const id of [otherCluster.id, otherNode.id]) expect((await runtime.inspect(id)).state).toBe("running");
      expect((await runtime.list({ owner, all: true })).map((c) => c.id)).toEqual([mine.id]);
      expect((await runtime.list({ owner: testOwner(node, "other-cluster"), all: true })).map((c) => c.id)).toEqual([otherCluster.id]);
      const [listed] = await runtime.list({ owner });
      expect(listed?.task).toMatchObject({ node, cluster: owner.cluster, nodeId: owner.nodeId });
      await eventually(() => seen.find((e) => e.id === mine.id && e.action === "start"), 5_000, "start event");
      await Promise.all([otherCluster.id, otherNode.id].map((id) => runtime.stop(id, { graceMs: 0 })));
      await new Promise((r) => setTimeout(r, 300));
      expect(seen.filter((e) => e.id !== mine.id)).toEqual([]);
    } finally {
      unsubscribe();
    }
  });

  it("delivers start, die with exit code, and destroy for its node only, promptly", async () => {
    const other = uniqueNode("rt-other");
    const seen: { event: ContainerEvent; receivedAt: number }[] = [];
    const unsubscribe = await runtime.events({ owner: testOwner(node) }, (event) => seen.push({ event, receivedAt: Date.now() }));
    try {
      const foreign = await runtime.start(spec({ command: ["sh", "-c", "exit 2"] }, other));
      const started = await runtime.start(spec({ command: ["sh", "-c", "sleep 0.3; exit 7"] }));
      const die = await eventually(() => seen.find((s) => s.event.id === started.id && s.event.action === "die"), 5_000, "die event");
      expect(die.event.exitCode).toBe(7);
      expect(die.event.labels[LABELS.node]).toBe(node);
      expect(die.event.labels[LABELS.task]).toBeDefined();
      const info = await runtime.inspect(started.id);
      if (info.state === "missing" || info.finishedAt === null) throw new Error("no finish time");
      expect(die.receivedAt - info.finishedAt.getTime()).toBeLessThan(2_000);
      expect(seen.some((s) => s.event.id === started.id && s.event.action === "start")).toBe(true);

      await runtime.remove(started.id);
      await eventually(() => seen.find((s) => s.event.id === started.id && s.event.action === "destroy"), 5_000, "destroy event");
      await exited(foreign.id);
      expect(seen.some((s) => s.event.id === foreign.id)).toBe(false);
    } finally {
      unsubscribe();
      await cleanupNode(other, docker);
    }

    const count = seen.length;
    const after = await runtime.start(spec({ command: ["sh", "-c", "exit 0"] }));
    await exited(after.id);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.length).toBe(count);
  });

  it("reconnects a dropped event stream and neither loses nor repeats events", async () => {
    // An idle timeout on the client makes the engine connection drop every 300 ms.
    const flaky = createDockerRuntime({ docker: new Dockerode({ timeout: 300 }) });
    const seen: ContainerEvent[] = [];
    const drops: Error[] = [];
    const unsubscribe = await flaky.events({ owner: testOwner(node) }, (event) => seen.push(event), { onError: (error) => drops.push(error) });
    try {
      await eventually(() => (drops.length > 0 ? true : undefined), 3_000, "a dropped stream");
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const started = await runtime.start(spec({ command: ["sh", "-c", `exit ${10 + i}`] }));
        ids.push(started.id);
        await new Promise((r) => setTimeout(r, 250));
      }
      for (const [i, id] of ids.entries()) {
        const dies = await eventually(() => {
          const found = seen.filter((e) => e.id === id && e.action === "die");
          return found.length > 0 ? found : undefined;
        }, 5_000, `die event of container ${i}`);
        expect(dies.map((e) => e.exitCode)).toEqual([10 + i]);
      }
      await new Promise((r) => setTimeout(r, 800)); // a few more reconnects: replays must not repeat
      for (const id of ids) expect(seen.filter((e) => e.id === id && e.action === "die")).toHaveLength(1);
    } finally {
      unsubscribe();
    }
  });
});

describe("ensureImage", () => {
  it("returns at once for a present image", async () => {
    await runtime.ensureImage(TEST_IMAGE, { timeoutMs: 5_000 });
  });

  it("fails clearly, within the timeout, for an image it cannot pull", async () => {
    const began = Date.now();
    const failure = runtime.ensureImage("leasehold-test/does-not-exist:never", { timeoutMs: 5_000 });
    await expect(failure).rejects.toBeInstanceOf(ContainerRuntimeError);
    await expect(failure).rejects.toMatchObject({ code: "image_unavailable" });
    await expect(failure).rejects.toThrow(/^image leasehold-test\/does-not-exist:never not present and pull failed: .+/);
    expect(Date.now() - began).toBeLessThan(6_000);
  });

  it("gives up on a registry that never answers when the timeout runs out", async () => {
    // A "registry" that accepts connections and never says a word: the engine's pull would hang.
    const held: net.Socket[] = [];
    const silent = net.createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    const image = `127.0.0.1:${port}/leasehold/never:1`;
    try {
      const began = Date.now();
      await expect(runtime.ensureImage(image, { timeoutMs: 1_000 })).rejects.toThrow(
        `image ${image} not present and pull failed: no result within 1000 ms`,
      );
      expect(Date.now() - began).toBeLessThan(2_000);
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });
});
