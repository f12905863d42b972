import { describe, expect, it } from "vitest";
import { SseParser, type SseMessage } from "./sse";

/** Feeds the chunks one after another and collects everything they completed. */
function parse(...chunks: string[]): { messages: SseMessage[]; parser: SseParser } {
  const parser = new SseParser();
  const messages = chunks.flatMap((c) => parser.push(c));
  return { messages, parser };
}

describe("SseParser", () => {
  it("parses the stream the control plane sends: id and data per event, keepalive comments between", () => {
    const { messages, parser } = parse(': keepalive\n\nid: 7\ndata: {"id":7}\n\n: keepalive\n\nid: 8\ndata: {"id":8}\n\n');
    expect(messages).toEqual([
      { id: "7", event: "message", data: '{"id":7}' },
      { id: "8", event: "message", data: '{"id":8}' },
    ]);
    expect(parser.lastEventId).toBe("8");
  });

  it("completes a message only at its blank line, however the text is split", () => {
    const text = "id: 41\ndata: first line\ndata: second line\n\n";
    for (let cut = 0; cut <= text.length; cut++) {
      const { messages } = parse(text.slice(0, cut), text.slice(cut));
      expect(messages, `split at ${cut}`).toEqual([{ id: "41", event: "message", data: "first line\nsecond line" }]);
    }
    expect(parse("data: no blank line yet\n").messages).toEqual([]);
  });

  it("takes CRLF and CR line ends, a CRLF split across chunks being one line end", () => {
    expect(parse("data: a\r\n\r\ndata: b\r\rdata: c\n\n").messages.map((m) => m.data)).toEqual(["a", "b", "c"]);
    // The blank line after "x" is CR + LF in two chunks, not two line ends (which would end a message early).
    const { messages } = parse("data: x\r", "\ndata: y\r", "\n\r", "\n");
    expect(messages.map((m) => m.data)).toEqual(["x\ny"]);
  });

  it("follows the field rules: one leading space dropped, a line with no colon is a field with an empty value, unknown fields ignored", () => {
    expect(parse("data:no space\ndata:  two spaces\ndata\nfoo: bar\n\n").messages).toEqual([{ id: "", event: "message", data: "no space\n two spaces\n" }]);
  });

  it("keeps the last id for later messages, ignores an id holding NUL, and an empty id clears it", () => {
    const { messages } = parse("id: 5\ndata: a\n\ndata: b\n\nid: 6\u00007\ndata: c\n\nid\ndata: d\n\n");
    expect(messages.map((m) => [m.id, m.data])).toEqual([
      ["5", "a"],
      ["5", "b"],
      ["5", "c"],
      ["", "d"],
    ]);
  });

  it("dispatches nothing for a blank line without data, and names events only when the server does", () => {
    const { messages } = parse("event: ignored\n\nevent: status\ndata: x\n\ndata: y\n\n");
    expect(messages).toEqual([
      { id: "", event: "status", data: "x" },
      { id: "", event: "message", data: "y" },
    ]);
  });

  it("drops a byte order mark at the start of the stream only, and reads retry when it is a number", () => {
    const { messages, parser } = parse("\ufeffretry: 2500\ndata: a\n\n", "retry: soon\ndata: \ufeffb\n\n");
    expect(messages.map((m) => m.data)).toEqual(["a", "\ufeffb"]);
    expect(parser.retry).toBe(2500);
  });
});
