// Decoding Docker's multiplexed stdout/stderr framing (8-byte header: stream, 0, 0, 0, uint32 BE length).

export type StreamKind = "stdin" | "stdout" | "stderr";
export type Frame = { stream: StreamKind; data: Buffer };

const KINDS: readonly StreamKind[] = ["stdin", "stdout", "stderr"];

/**
 * Splits a multiplexed buffer into frames. A buffer that does not start with a valid header
 * (a TTY container's raw output) comes back as one stdout frame; a truncated last frame is kept.
 */
export function demultiplex(buf: Buffer): Frame[] {
  const frames: Frame[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const kind = buf.length - offset >= 8 ? headerKind(buf, offset) : undefined;
    if (kind === undefined) {
      frames.push({ stream: "stdout", data: buf.subarray(offset) });
      break;
    }
    const length = buf.readUInt32BE(offset + 4);
    const start = offset + 8;
    const end = Math.min(start + length, buf.length);
    frames.push({ stream: kind, data: buf.subarray(start, end) });
    offset = end;
  }
  return frames;
}

function headerKind(buf: Buffer, offset: number): StreamKind | undefined {
  const type = buf[offset];
  if (type === undefined || buf[offset + 1] !== 0 || buf[offset + 2] !== 0 || buf[offset + 3] !== 0) return undefined;
  return KINDS[type];
}

/** stdout and stderr interleaved in the order they were written, as UTF-8 text. */
export function demultiplexToString(buf: Buffer): string {
  return Buffer.concat(demultiplex(buf).map((f) => f.data)).toString("utf8");
}

/**
 * The same decoding for a stream whose frames arrive in pieces: a frame is handed on once it is whole. A
 * stream that does not start with a valid header (a TTY container's raw output) is passed on as stdout.
 */
export function createDemuxer(onFrame: (frame: Frame) => void): { push(chunk: Buffer): void } {
  let pending: Buffer = Buffer.alloc(0);
  let raw = false;
  return {
    push(chunk) {
      if (raw) return onFrame({ stream: "stdout", data: chunk });
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 8) {
        const kind = headerKind(pending, 0);
        if (kind === undefined) {
          raw = true;
          onFrame({ stream: "stdout", data: pending });
          pending = Buffer.alloc(0);
          return;
        }
        const end = 8 + pending.readUInt32BE(4);
        if (pending.length < end) return;
        onFrame({ stream: kind, data: pending.subarray(8, end) });
        pending = pending.subarray(end);
      }
    },
  };
}
