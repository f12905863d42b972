// One-shot commands in a container through the Docker Engine API (`docker exec` without a TTY or stdin):
// stdout and stderr kept apart, each bounded to its end, and the command killed at its timeout.
import type Dockerode from "dockerode";
import type { CommandResult } from "./container-runtime";
import { ContainerRuntimeError } from "./container-runtime";
import { createDemuxer } from "./demux";
import { reason, statusCode, wrap } from "./docker-values";
import { inContainer, killTree, namespacePid } from "./exec-kill";

/** How long output may still arrive once a timed-out command was killed (an orphan may hold the stream). */
const AFTER_KILL_MS = 2_000;
/** How long the engine has to record an exit code once the stream ended. */
const EXIT_CODE_WAIT_MS = 2_000;

/** The last `max` bytes written to it, and whether more were. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private held = 0;
  private total = 0;
  constructor(private readonly max: number) {}

  push(data: Buffer): void {
    this.chunks.push(data);
    this.held += data.length;
    this.total += data.length;
    if (this.held > 2 * this.max) this.compact();
  }

  get truncated(): boolean {
    return this.total > this.max;
  }

  text(): string {
    this.compact();
    return Buffer.concat(this.chunks).toString("utf8");
  }

  private compact(): void {
    const all = Buffer.concat(this.chunks);
    const kept = all.length > this.max ? all.subarray(all.length - this.max) : all;
    this.chunks = [kept];
    this.held = kept.length;
  }
}

export function createDockerExec(docker: Dockerode) {
  async function execCommand(id: string, cmd: string[], { timeoutMs, maxOutputBytes }: { timeoutMs: number; maxOutputBytes: number }): Promise<CommandResult> {
    if (cmd.length === 0) throw new ContainerRuntimeError("invalid_spec", "exec needs a command");
    const container = docker.getContainer(id);
    let handle: Dockerode.Exec;
    let stream: NodeJS.ReadableStream;
    const controller = new AbortController();
    try {
      handle = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false });
      stream = await handle.start({ Detach: false, Tty: false, abortSignal: controller.signal });
    } catch (error) {
      if (statusCode(error) === 409) throw new ContainerRuntimeError("conflict", `container ${id} is not running: ${reason(error)}`, { cause: error });
      throw wrap(error, `exec in container ${id}`);
    }
    const out = { stdout: new TailBuffer(maxOutputBytes), stderr: new TailBuffer(maxOutputBytes) };
    const demux = createDemuxer((frame) => (frame.stream === "stderr" ? out.stderr : out.stdout).push(frame.data));
    stream.on("data", (chunk: Buffer) => demux.push(chunk));
    const finished = new Promise<void>((resolve) => {
      stream.on("end", resolve);
      stream.on("close", resolve);
      stream.on("error", () => resolve());
    });
    const timedOut = (await settleWithin(finished, timeoutMs)) === "timeout";
    if (timedOut) {
      await kill(container, handle, id);
      await settleWithin(finished, AFTER_KILL_MS);
    }
    controller.abort();
    const exitCode = timedOut ? null : await exitCodeOf(handle);
    return { exitCode, stdout: out.stdout.text(), stderr: out.stderr.text(), truncated: out.stdout.truncated || out.stderr.truncated, timedOut };
  }

  /** Best effort (see exec-kill.ts): from the host by pid, else from inside the container. */
  async function kill(container: Dockerode.Container, handle: Dockerode.Exec, containerId: string): Promise<void> {
    const pid = (await handle.inspect().catch(() => undefined))?.Pid ?? 0;
    if (pid <= 0) return;
    const fullId = (await container.inspect().catch(() => undefined))?.Id ?? containerId;
    if (killTree(pid, fullId)) return;
    const inner = inContainer(pid, fullId) ? namespacePid(pid) : undefined;
    if (inner === undefined) return;
    const killer = await container.exec({ Cmd: ["kill", "-KILL", String(inner)], AttachStdout: false, AttachStderr: false }).catch(() => undefined);
    await killer?.start({ Detach: true, Tty: false }).catch(() => undefined);
  }

  async function exitCodeOf(handle: Dockerode.Exec): Promise<number | null> {
    // The stream can end a moment before the engine records the exit code.
    const deadline = Date.now() + EXIT_CODE_WAIT_MS;
    for (;;) {
      const info = await handle.inspect().catch(() => undefined);
      if (info && !info.Running && info.ExitCode !== null) return info.ExitCode;
      if (Date.now() > deadline) return null;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  return { execCommand };
}

function settleWithin(promise: Promise<void>, ms: number): Promise<"done" | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)));
  return Promise.race([promise.then(() => "done" as const), timeout]).finally(() => clearTimeout(timer));
}
