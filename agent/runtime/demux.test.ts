// Unit tests for Docker stream demultiplexing.
import { describe, expect, it } from "vitest";
import { createDemuxer, demultiplex, demultiplexToString } from "./demux";

function frame(type: number, text: string): Buffer {
  const body = Buffer.from(text, "utf8");
  const header = Buffer.alloc(8);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

describe("demultiplex", () => {
  it("splits stdout and stderr frames in order", () => {
    const buf = Buffer.concat([frame(1, "out 1\n"), frame(2, "err 1\n"), frame(1, "out 2\n")]);
    expect(demultiplex(buf).map((f) => [f.stream, f.data.toString()])).toEqual([
      ["stdout", "out 1\n"],
      ["stderr", "err 1\n"],
      ["stdout", "out 2\n"],
    ]);
    expect(demultiplexToString(buf)).toBe("out 1\nerr 1\nout 2\n");
  });

  it("passes raw (TTY) output through as stdout", () => {
    expect(demultiplexToString(Buffer.from("plain text\n"))).toBe("plain text\n");
  });

  it("keeps a truncated last frame and handles empty input", () => {
    const buf = frame(1, "hello world").subarray(0, 13);
    expect(demultiplexToString(buf)).toBe("hello");
    expect(demultiplex(Buffer.alloc(0))).toEqual([]);
  });
});

describe("createDemuxer", () => {
  it("hands on frames split across chunks, header and body, whole and in order", () => {
    const buf = Buffer.concat([frame(1, "out 1\n"), frame(2, "err 1\n"), frame(1, "out 2\n")]);
    const got: [string, string][] = [];
    const demux = createDemuxer((f) => got.push([f.stream, f.data.toString()]));
    const cuts = [0, 3, 9, 17, 30, buf.length];
    for (let i = 1; i < cuts.length; i++) demux.push(buf.subarray(cuts[i - 1], cuts[i]));
    expect(got).toEqual([
      ["stdout", "out 1\n"],
      ["stderr", "err 1\n"],
      ["stdout", "out 2\n"],
    ]);
  });

  it("passes a raw (TTY) stream through as stdout", () => {
    const got: string[] = [];
    const demux = createDemuxer((f) => got.push(`${f.stream}:${f.data.toString()}`));
    demux.push(Buffer.from("plain text\n"));
    demux.push(Buffer.from("more\n"));
    expect(got).toEqual(["stdout:plain text\n", "stdout:more\n"]);
  });
});
