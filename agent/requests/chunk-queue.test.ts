// Unit tests for a follow's chunk queue: complete lines only, in order with notes, bounded chunks and memory.
import { describe, expect, it } from "vitest";
import { ChunkQueue } from "./chunk-queue";

const queue = (maxHeldBytes = 1_000_000, maxLineChars = 100) => new ChunkQueue({ maxLineChars, maxHeldBytes });
const b = (s: string) => Buffer.from(s, "utf8");

describe("ChunkQueue", () => {
  it("holds a line back until its newline comes, and merges a stream's lines in a row", () => {
    const q = queue();
    q.push("stdout", b("one\ntw"), 0);
    expect(q.partialSince).toBe(0);
    q.push("stdout", b("o\nthree\n"), 5);
    q.push("stderr", b("err\n"), 6);
    q.push("stdout", b("four\n"), 7);
    expect(q.partialSince).toBeNull();
    expect(q.take(1_000)).toEqual({
      output: [
        { stream: "stdout", text: "one\ntwo\nthree\n" },
        { stream: "stderr", text: "err\n" },
        { stream: "stdout", text: "four\n" },
      ],
      ended: false,
    });
    expect(q.take(1_000)).toBeNull();
    expect(q.empty).toBe(true);
  });

  it("keeps notes in their place: a chunk ends at a note and carries it", () => {
    const q = queue();
    q.push("stdout", b("before\n"), 0);
    q.note("container restarted");
    q.push("stdout", b("after\n"), 0);
    q.note("task stopped", true);
    expect(q.take(1_000)).toEqual({ output: [{ stream: "stdout", text: "before\n" }], status: "container restarted", ended: false });
    expect(q.take(1_000)).toEqual({ output: [{ stream: "stdout", text: "after\n" }], status: "task stopped", ended: true });
  });

  it("takes at most maxBytes of lines per chunk (but always one line), and cuts overlong lines", () => {
    const q = queue(1_000_000, 10);
    q.push("stdout", b("aaaa\nbbbb\ncccc\n"), 0);
    expect(q.take(10)?.output).toEqual([{ stream: "stdout", text: "aaaa\nbbbb\n" }]);
    expect(q.take(1)?.output).toEqual([{ stream: "stdout", text: "cccc\n" }]);
    q.push("stderr", b("x".repeat(25)), 0);
    q.flushPartials();
    expect(q.take(1_000)?.output).toEqual([{ stream: "stderr", text: `${"x".repeat(10)}\n${"x".repeat(10)}\n${"x".repeat(5)}\n` }]);
  });

  it("decodes characters split across frames, and ends a partial line when flushed", () => {
    const q = queue();
    const euro = b("€\n");
    q.push("stdout", euro.subarray(0, 1), 0);
    q.push("stdout", euro.subarray(1), 0);
    q.push("stdout", b("no newline"), 0);
    q.flushPartials();
    expect(q.take(1_000)?.output).toEqual([{ stream: "stdout", text: "€\nno newline\n" }]);
  });

  it("drops the oldest lines past its bound and says how many", () => {
    const q = queue(12);
    q.push("stdout", b("1234\n5678\nabcd\n"), 0);
    expect(q.take(1_000)).toEqual({ output: [], status: "1 line dropped: the control plane could not take them as fast as they came", ended: false });
    expect(q.take(1_000)?.output).toEqual([{ stream: "stdout", text: "5678\nabcd\n" }]);
  });
});
