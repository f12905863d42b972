// Reading a text/event-stream response in tests: messages (their data parsed as JSON) and comment lines.

export type SseEvent = { kind: "data"; data: unknown } | { kind: "comment"; text: string };

export class SseReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buffer = "";
  private readonly ready: SseEvent[] = [];
  /** Every event read so far, in order. */
  readonly seen: SseEvent[] = [];

  constructor(res: Response) {
    if (!res.body) throw new Error("the response has no body");
    this.reader = res.body.getReader();
  }

  /** The next event, or an error naming what was seen when none comes within `timeoutMs`. */
  async next(timeoutMs = 10_000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    while (this.ready.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event within ${timeoutMs} ms; seen: ${JSON.stringify(this.seen)}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), left)));
      const read = await Promise.race([this.reader.read(), timeout]).finally(() => clearTimeout(timer));
      if (read === "timeout") continue;
      if (read.done) throw new Error(`the stream ended; seen: ${JSON.stringify(this.seen)}`);
      this.buffer += this.decoder.decode(read.value, { stream: true });
      this.split();
    }
    const event = this.ready.shift()!;
    this.seen.push(event);
    return event;
  }

  /** Data messages until one matches `done` (that one included), skipping comments. */
  async until<T = unknown>(done: (data: T) => boolean, timeoutMs = 15_000): Promise<T[]> {
    const deadline = Date.now() + timeoutMs;
    const out: T[] = [];
    for (;;) {
      const event = await this.next(Math.max(1, deadline - Date.now()));
      if (event.kind !== "data") continue;
      out.push(event.data as T);
      if (done(event.data as T)) return out;
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
  }

  private split(): void {
    for (let end = this.buffer.indexOf("\n\n"); end >= 0; end = this.buffer.indexOf("\n\n")) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).replace(/^ /, ""));
      if (data.length > 0) this.ready.push({ kind: "data", data: JSON.parse(data.join("\n")) });
      else if (block.startsWith(":")) this.ready.push({ kind: "comment", text: block.slice(1).trim() });
    }
  }
}
