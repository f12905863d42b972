// A follow's output on its way to the control plane: frames cut into complete lines per stream, held in the
// order written with the follow's notes between them, and taken as chunks of bounded size.
//
// Invariants: a chunk holds only complete lines (a line longer than maxLineChars is cut, each piece ending in
// a newline); lines and notes leave in the order they came; what is held stays under maxHeldBytes, the
// oldest lines dropped first (and counted, so the viewer is told).
import type { LogStream } from "../../api/agent-requests";

export interface Chunk {
  output: { stream: LogStream; text: string }[];
  status?: string;
  ended: boolean;
}

type Item = { kind: "line"; stream: LogStream; text: string; bytes: number } | { kind: "note"; text: string; last: boolean };

export class ChunkQueue {
  private readonly items: Item[] = [];
  private readonly partial: Record<LogStream, string> = { stdout: "", stderr: "" };
  private readonly decoders: Record<LogStream, TextDecoder> = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  private heldBytes = 0;
  private droppedLines = 0;
  /** When a partial line began to wait for its newline. */
  partialSince: number | null = null;

  constructor(private readonly opts: { maxLineChars: number; maxHeldBytes: number }) {}

  /** Output as it came from the engine. */
  push(stream: LogStream, data: Buffer, now: number): void {
    let text = this.partial[stream] + this.decoders[stream].decode(data, { stream: true });
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
      this.line(stream, text.slice(0, nl + 1));
      text = text.slice(nl + 1);
    }
    while (text.length > this.opts.maxLineChars) {
      this.line(stream, text.slice(0, this.opts.maxLineChars) + "\n");
      text = text.slice(this.opts.maxLineChars);
    }
    this.partial[stream] = text;
    if (text === "") this.partialSince = this.partial.stdout === "" && this.partial.stderr === "" ? null : this.partialSince;
    else this.partialSince ??= now;
  }

  /** Ends the lines still waiting for a newline (the stream ended, or they waited too long). */
  flushPartials(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      const rest = this.partial[stream] + this.decoders[stream].decode();
      this.partial[stream] = "";
      if (rest !== "") this.line(stream, rest + "\n");
    }
    this.partialSince = null;
  }

  /** A note for the viewer, after the lines before it; `last` ends the follow once it is sent. */
  note(text: string, last = false): void {
    this.items.push({ kind: "note", text, last });
  }

  get empty(): boolean {
    return this.items.length === 0 && this.droppedLines === 0;
  }

  /** The next chunk: lines up to maxBytes, up to and with the next note. */
  take(maxBytes: number): Chunk | null {
    if (this.droppedLines > 0) {
      const n = this.droppedLines;
      this.droppedLines = 0;
      return { output: [], status: `${n} line${n === 1 ? "" : "s"} dropped: the control plane could not take them as fast as they came`, ended: false };
    }
    if (this.items.length === 0) return null;
    const output: Chunk["output"] = [];
    let bytes = 0;
    while (this.items.length > 0) {
      const item = this.items[0]!;
      if (item.kind === "note") {
        this.items.shift();
        return { output, status: item.text, ended: item.last };
      }
      if (output.length > 0 && bytes + item.bytes > maxBytes) break;
      this.items.shift();
      this.heldBytes -= item.bytes;
      bytes += item.bytes;
      const last = output.at(-1);
      if (last && last.stream === item.stream) last.text += item.text;
      else output.push({ stream: item.stream, text: item.text });
    }
    return { output, ended: false };
  }

  private line(stream: LogStream, text: string): void {
    const bytes = Buffer.byteLength(text);
    this.items.push({ kind: "line", stream, text, bytes });
    this.heldBytes += bytes;
    while (this.heldBytes > this.opts.maxHeldBytes) {
      const i = this.items.findIndex((it) => it.kind === "line");
      if (i < 0) break;
      const [gone] = this.items.splice(i, 1);
      if (gone?.kind === "line") this.heldBytes -= gone.bytes;
      this.droppedLines += 1;
    }
  }
}
