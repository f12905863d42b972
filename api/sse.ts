// A server-sent events parser for the API's streams (GET /v1/events?follow=1, log follows). The dashboard and
// the CLI read them with fetch, since EventSource cannot send an Authorization header (and Node 20 has
// none), so the event-stream format is parsed here, as the HTML standard interprets it:
// lines end in LF, CRLF or CR (a CRLF split across two chunks is one line end); a leading BOM is dropped;
// ":" lines are comments (the server's keepalives); "data" lines join with LF; a blank line dispatches;
// "id" is kept for the next messages and for Last-Event-ID, and one holding NUL is ignored.

export interface SseMessage {
  /** The last event id seen so far (this message's, or an earlier one's); "" if none was ever sent. */
  id: string;
  /** "message" unless the server named it. */
  event: string;
  data: string;
}

export class SseParser {
  private buffer = "";
  private started = false;
  /** The previous chunk ended in CR: an LF starting this one belongs to that line end. */
  private afterCr = false;
  private data: string[] = [];
  private event = "";
  private lastId = "";
  /** The reconnection time the server asked for, in ms. */
  retry: number | null = null;

  /** Feeds decoded text; returns the messages it completed, oldest first. */
  push(text: string): SseMessage[] {
    let chunk = text;
    if (chunk.length === 0) return [];
    if (!this.started) {
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    if (this.afterCr && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.afterCr = false;
    this.buffer += chunk;
    const out: SseMessage[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      this.line(this.buffer.slice(start, i), out);
      if (ch === 13) {
        if (i + 1 === this.buffer.length) this.afterCr = true;
        else if (this.buffer.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** The id to resume from (Last-Event-ID). */
  get lastEventId(): string {
    return this.lastId;
  }

  private line(line: string, out: SseMessage[]): void {
    if (line === "") {
      if (this.data.length > 0) out.push({ id: this.lastId, event: this.event || "message", data: this.data.join("\n") });
      this.data = [];
      this.event = "";
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.data.push(value);
        break;
      case "event":
        this.event = value;
        break;
      case "id":
        if (!value.includes("\u0000")) this.lastId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
    }
  }
}
