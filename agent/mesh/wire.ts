// The mesh's one exchange before bytes flow: the caller names what it wants opened, in one line of JSON
// ({"service":"namespace/name","port":host port}), and the far end answers one line, "ok" or "refused: why".
import type { Socket } from "node:net";

export const MAX_LINE_BYTES = 1_024;
export const LINE_TIMEOUT_MS = 5_000;

export type MeshAsk = { service: string; port: number };

export function parseAsk(line: string): MeshAsk | null {
  try {
    const v = JSON.parse(line) as unknown;
    if (typeof v !== "object" || v === null) return null;
    const { service, port } = v as Record<string, unknown>;
    if (typeof service !== "string" || service.length > 200 || !Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) return null;
    return { service, port: port as number };
  } catch {
    return null;
  }
}

/**
 * The first line the socket sends, without consuming what follows it (pushed back for the pipe that takes
 * over). Rejects past MAX_LINE_BYTES, LINE_TIMEOUT_MS, or the end of the stream.
 */
export function readLine(socket: Socket, timeoutMs = LINE_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const done = (error: Error | null, line?: string) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
      socket.pause();
      if (error) reject(error);
      else resolve(line ?? "");
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const at = buffered.indexOf(0x0a);
      if (at >= 0) {
        const rest = buffered.subarray(at + 1);
        done(null, buffered.subarray(0, at).toString("utf8"));
        if (rest.length > 0) socket.unshift(rest);
      } else if (buffered.length > MAX_LINE_BYTES) done(new Error(`no line within ${MAX_LINE_BYTES} bytes`));
    };
    const onEnd = () => done(new Error("closed before a line"));
    const onError = (e: Error) => done(e);
    const timer = setTimeout(() => done(new Error(`no line within ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("error", onError);
  });
}
