// A job's logs, followed live: the log follow stream (GET …/logs/follow, server-sent events) from the last
// lines on. A control plane without it (404) gets the queued tail instead (POST …/logs, then the agent's
// answer polled from /v1/log-requests), which shows the last lines once.
import { useEffect, useId, useLayoutEffect, useRef, useState } from "preact/hooks";
import { isMissingRoute, jobPath, seg, type ApiClient } from "../../api/client";
import type { LogMessage, LogRequest, Task } from "../../api/types";
import { errorText } from "../../components/problem";
import { StateBadge } from "../../components/state-badge";
import { shortId } from "../../format";
import { useSession } from "../../session-context";
import { followStream } from "../../stream";

interface Line {
  n: number;
  taskId: string;
  stream: "stdout" | "stderr" | "status";
  text: string;
}

const KEEP_LINES = 5_000;
type Mode = "connecting" | "following" | "reconnecting" | "paused" | "tail" | "tail-loading";

/** The queued tail: one request per task the agents run, each polled until its agent has answered. */
async function fetchTail(client: ApiClient, path: string, taskId: string, tail: number, signal: AbortSignal): Promise<Line[]> {
  const { requests } = await client.post<{ requests: LogRequest[] }>(`${path}/logs`, { tail, ...(taskId ? { taskId } : {}) });
  const outputs = await Promise.all(
    requests.map(async (r) => {
      const deadline = Date.now() + 30_000;
      while (!signal.aborted && Date.now() < deadline) {
        const got = await client.get<LogRequest>(`/v1/log-requests/${seg(r.id)}`, signal);
        if (got.status === "done" || got.status === "failed") return { ...got, output: got.output ?? "" };
        await new Promise((done) => setTimeout(done, 500));
      }
      return { ...r, status: "failed" as const, output: "the agent did not answer within 30 s" };
    }),
  );
  let n = 0;
  return outputs.flatMap((o): Line[] =>
    o.status === "failed" ? [{ n: n++, taskId: o.taskId, stream: "status", text: `no logs: ${o.output}` }] : (o.output ?? "").split("\n").filter((l) => l !== "").map((text) => ({ n: n++, taskId: o.taskId, stream: "stdout", text })),
  );
}

export function LogsTab({ namespace, name, tasks }: { namespace: string; name: string; tasks: Task[] }) {
  const { client } = useSession();
  const path = jobPath(namespace, name);
  const [task, setTask] = useState("");
  const [tail, setTail] = useState(100);
  /** Both streams as written, or stderr alone (the follow's stderr=1). */
  const [stderrOnly, setStderrOnly] = useState(false);
  const [paused, setPaused] = useState(false);
  const [again, setAgain] = useState(0);
  const [mode, setMode] = useState<Mode>("connecting");
  const [lines, setLines] = useState<Line[]>([]);
  const [error, setError] = useState<string | null>(null);
  const ids = { task: useId(), tail: useId(), streams: useId() };

  useEffect(() => {
    if (paused) {
      setMode("paused");
      return;
    }
    const abort = new AbortController();
    let n = 0;
    let buffer: Line[] = [];
    setLines([]);
    setError(null);
    setMode("connecting");
    const append = (add: Line[]) => {
      buffer = [...buffer, ...add].slice(-KEEP_LINES);
      setLines(buffer);
    };
    const params = (withTail: boolean) => {
      const p = new URLSearchParams({ tail: String(withTail ? tail : 0), timestamps: "1" });
      if (stderrOnly) p.set("stderr", "1");
      if (task) p.set("task", task);
      return p.toString();
    };
    void followStream({
      client,
      // After a reconnect the lines so far are on the page: only new ones are asked for.
      path: (attempt) => `${path}/logs/follow?${params(attempt === 0)}`,
      signal: abort.signal,
      onMessage: (m) => {
        let message: LogMessage;
        try {
          message = JSON.parse(m.data) as LogMessage;
        } catch {
          return;
        }
        if (message.type === "output") append(message.text.replace(/\n$/, "").split("\n").map((text) => ({ n: n++, taskId: message.taskId, stream: message.stream, text })));
        else if (message.type === "status") append([{ n: n++, taskId: message.taskId, stream: "status", text: message.message }]);
      },
      onState: (s) => {
        if (s.kind === "open") setMode("following");
        else if (s.kind === "retrying") setMode("reconnecting");
        else if (s.kind === "refused") setError(errorText(s.error));
        else if (s.kind === "unsupported") {
          setMode("tail-loading");
          fetchTail(client, path, task, tail, abort.signal)
            .then((got) => {
              if (abort.signal.aborted) return;
              append(got);
              setMode("tail");
            })
            .catch((err: unknown) => {
              if (abort.signal.aborted) return;
              setMode("tail");
              setError(isMissingRoute(err) ? "this control plane serves no logs" : errorText(err));
            });
        }
      },
    });
    return () => abort.abort();
  }, [client, path, task, tail, stderrOnly, paused, again]);

  // Stays at the bottom while the reader is there; reading further up is left alone.
  const box = useRef<HTMLPreElement>(null);
  const atBottom = useRef(true);
  useLayoutEffect(() => {
    const el = box.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [lines]);

  const many = task === "" && new Set(lines.map((l) => l.taskId)).size > 1;
  const modeBadge: Record<Mode, [string, string]> = {
    connecting: ["pending", "connecting"],
    following: ["running", "following"],
    reconnecting: ["pending", "reconnecting"],
    paused: ["stopped", "paused"],
    tail: ["stopped", `last ${tail} lines`],
    "tail-loading": ["pending", "asking the agents"],
  };
  const [state, label] = modeBadge[mode];
  return (
    <>
      <div class="toolbar">
        <span class="field">
          <label for={ids.task}>Task</label>
          <select id={ids.task} value={task} onChange={(e) => setTask(e.currentTarget.value)}>
            <option value="">All tasks</option>
            {tasks
              .filter((t) => t.nodeId !== null)
              .map((t) => (
                <option key={t.id} value={t.id}>
                  slot {t.slot}: {shortId(t.id)} ({t.state})
                </option>
              ))}
          </select>
        </span>
        <span class="field">
          <label for={ids.tail}>Last lines</label>
          <select id={ids.tail} value={String(tail)} onChange={(e) => setTail(Number(e.currentTarget.value))}>
            {[50, 100, 500, 1000].map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </span>
        <span class="field">
          <label for={ids.streams}>Streams</label>
          <select id={ids.streams} value={stderrOnly ? "stderr" : "both"} onChange={(e) => setStderrOnly(e.currentTarget.value === "stderr")}>
            <option value="both">stdout and stderr</option>
            <option value="stderr">stderr only</option>
          </select>
        </span>
        <button type="button" onClick={() => setPaused(!paused)} aria-pressed={paused}>
          {paused ? "Resume following" : "Pause"}
        </button>
        {mode === "tail" ? (
          <button type="button" onClick={() => setAgain(again + 1)}>
            Fetch again
          </button>
        ) : null}
        <span role="status">
          <StateBadge state={state} label={label} />
        </span>
      </div>
      {mode === "tail" || mode === "tail-loading" ? <p class="muted">This control plane cannot stream logs yet: these are the last lines each agent sent back.</p> : null}
      {error ? (
        <p class="problem" role="alert">
          Logs: {error}
        </p>
      ) : null}
      <pre
        ref={box}
        class="logs"
        role="log"
        aria-label={`Logs of ${name}`}
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {lines.length === 0 ? <span class="muted">{mode === "following" ? "Waiting for output…" : "No output yet."}</span> : null}
        {lines.map((l) => (
          <span key={l.n} class={`log-line log-${l.stream}`}>
            {many ? <span class="log-task">{shortId(l.taskId)} </span> : null}
            {l.stream === "stderr" ? <span class="visually-hidden">stderr: </span> : null}
            {l.text}
            {"\n"}
          </span>
        ))}
      </pre>
    </>
  );
}
