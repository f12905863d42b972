// Unit tests for the CLI's server-sent events parser.
import { describe, expect, it } from "vitest";
import { createSseParser } from "./sse";

describe("createSseParser", () => {
  it("yields each message's data once its blank line comes, however the text is cut, and skips comments", () => {
    const got: string[] = [];
    const parser = createSseParser((d) => got.push(d));
    const text = 'data: {"a":1}\n\n: keepalive\n\nevent: x\ndata: one\ndata: two\n\r\ndata:{"b":2}\n\n';
    for (const piece of [text.slice(0, 5), text.slice(5, 20), text.slice(20, 41), text.slice(41)]) parser.push(piece);
    expect(got).toEqual(['{"a":1}', "one\ntwo", '{"b":2}']);
  });
});
