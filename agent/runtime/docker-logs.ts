// Container logs through the Docker Engine API: a tail, and a follow (`docker logs --follow`) whose frames are
// handed on as they arrive.
import type Dockerode from "dockerode";
import type { LogFollow, LogFollowHandlers, LogOptions } from "./container-runtime";
import { createDemuxer, demultiplexToString } from "./demux";
import { toError, wrap } from "./docker-values";

/** The engine's query for a selection: `since` is a UNIX time (fractional seconds), read on this host's clock. */
function logQuery(o: LogOptions) {
  return {
    stdout: o.stream !== "stderr",
    stderr: o.stream !== "stdout",
    tail: o.tail,
    timestamps: o.timestamps === true,
    ...(o.sinceMs !== undefined ? { since: (Date.now() - o.sinceMs) / 1000 } : {}),
  };
}

export function createDockerLogs(docker: Dockerode) {
  async function logs(id: string, o: LogOptions): Promise<string> {
    try {
      const buf = await docker.getContainer(id).logs({ ...logQuery(o), follow: false });
      return demultiplexToString(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)));
    } catch (error) {
      throw wrap(error, `read logs of container ${id}`);
    }
  }

  async function followLogs(id: string, o: LogOptions & LogFollowHandlers): Promise<LogFollow> {
    const controller = new AbortController();
    let stream: NodeJS.ReadableStream;
    try {
      stream = await docker.getContainer(id).logs({ ...logQuery(o), follow: true, abortSignal: controller.signal });
    } catch (error) {
      throw wrap(error, `follow logs of container ${id}`);
    }
    let ended = false;
    let closing = false;
    const end = (error?: Error) => {
      if (ended) return;
      ended = true;
      o.onEnd(closing ? undefined : error);
    };
    const demux = createDemuxer((frame) => {
      if (frame.stream !== "stdin") o.onOutput(frame.stream, frame.data);
    });
    stream.on("data", (chunk: Buffer) => demux.push(chunk));
    stream.on("end", () => end());
    stream.on("close", () => end());
    stream.on("error", (error: unknown) => end(toError(error)));
    return {
      close() {
        closing = true;
        controller.abort();
        end();
      },
    };
  }

  return { logs, followLogs };
}
