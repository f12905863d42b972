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
