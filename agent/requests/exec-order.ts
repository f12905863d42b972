// One exec on the agent: the command run in the task's running container (no TTY, no stdin), killed at
// its timeout, and its answer posted once. The agent's log names the command's first word only: its
// arguments may carry secrets.
import { MAX_EXEC_OUTPUT_BYTES, type ExecOrder, type ExecResult } from "../../api/agent-requests";
import { ControlPlaneError, type ControlPlaneClient } from "../client";
import { errorText, type Logger } from "../log";
import type { ContainerRuntime } from "../runtime";

export interface ExecDeps {
  runtime: ContainerRuntime;
  client: ControlPlaneClient;
  credential(): string;
  /** The task's running container here, if it has one. */
  runningContainerOf(taskId: string): string | null;
  log: Logger;
}

/** Most of an answer's body: under the control plane's default body limit (1 MiB), escapes and all. */
const MAX_ANSWER_BYTES = 1_000_000;
/** How long an answer is retried while the control plane is unreachable (it takes answers for 15 s past the timeout). */
const ANSWER_RETRY_MS = 12_000;

export async function runExec(deps: ExecDeps, order: ExecOrder): Promise<void> {
  const started = Date.now();
  deps.log.info("running exec", { exec: order.id, task: order.taskId, command: order.command[0], timeoutMs: order.timeoutMs });
  let answer: ExecResult;
  const id = deps.runningContainerOf(order.taskId);
  if (!id) answer = { exitCode: null, stdout: "", stderr: "", error: `task ${order.taskId} has no running container on this node` };
  else {
    try {
      const r = await deps.runtime.execCommand(id, order.command, { timeoutMs: order.timeoutMs, maxOutputBytes: MAX_EXEC_OUTPUT_BYTES });
      answer = fitted({ exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, truncated: r.truncated, timedOut: r.timedOut });
    } catch (err) {
      answer = { exitCode: null, stdout: "", stderr: "", error: errorText(err).slice(0, 1_000) };
    }
  }
  deps.log.info("exec finished", { exec: order.id, exitCode: answer.exitCode, timedOut: answer.timedOut ?? false, ms: Date.now() - started, ...(answer.error ? { error: answer.error } : {}) });
  const deadline = Date.now() + ANSWER_RETRY_MS;
  for (let wait = 500; ; wait = Math.min(wait * 2, 4_000)) {
    try {
      return await deps.client.sendExecResult(deps.credential(), order.id, answer);
    } catch (err) {
      const refused = err instanceof ControlPlaneError && err.status > 0 && err.status < 500;
      if (refused || Date.now() + wait > deadline) return deps.log.warn("the exec's answer was not taken", { exec: order.id, error: errorText(err) });
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** The answer cut to fit the body limit, keeping the end of each stream. */
function fitted(answer: ExecResult): ExecResult {
  let out = answer;
  while (Buffer.byteLength(JSON.stringify(out)) > MAX_ANSWER_BYTES) {
    out = { ...out, stdout: out.stdout.slice(Math.floor(out.stdout.length / 2)), stderr: out.stderr.slice(Math.floor(out.stderr.length / 2)), truncated: true };
  }
  return out;
}
