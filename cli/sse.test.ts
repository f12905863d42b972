import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";

describe("SseParser", () => {
  it("reads id and data, across chunks cut anywhere, and ignores comments", () => {
    const text = ': open\n\nid: 7\ndata: {"a":1}\n\n: keepalive\n\nid: 8\ndata: {"b":2}\r\n\r\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new SseParser();
      const got = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      expect(got, `cut at ${cut}`).toEqual([
        { id: "7", event: "message", data: '{"a":1}' },
        { id: "8", event: "message", data: '{"b":2}' },
      ]);
    }
  });

  it("joins data lines, keeps the last id for later messages, and names events", () => {
    const p = new SseParser();
    expect(p.push("id: 3\nevent: status\ndata: one\ndata:two\n\ndata: three\n\n")).toEqual([
      { id: "3", event: "status", data: "one\ntwo" },
      { id: "3", event: "message", data: "three" },
    ]);
  });

  it("dispatches nothing for a message without data, nor before its blank line", () => {
    const p = new SseParser();
    expect(p.push("id: 1\n\nevent: x\n\ndata: half")).toEqual([]);
    expect(p.push("\n")).toEqual([]);
    expect(p.push("\n")).toEqual([{ id: "1", event: "message", data: "half" }]);
  });
});
