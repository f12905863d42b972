import { describe, expect, it } from "vitest";
import { diffSpecs, formatChange } from "./spec-diff";

describe("diffSpecs", () => {
  it("names each changed leaf by its path: added, removed, changed, inside arrays too", () => {
    const a = { image: "a:1", env: { A: "1", B: "2" }, ports: [{ name: "http", container: 80 }], health: { type: "http" } };
    const b = { image: "a:2", env: { A: "1", C: "3" }, ports: [{ name: "http", container: 8080 }, { name: "admin", container: 9000 }] };
    expect(diffSpecs(a, b).map(formatChange)).toEqual([
      "- env.B: 2",
      "+ env.C: 3",
      '- health: {"type":"http"}',
      "~ image: a:1 → a:2",
      "~ ports.0.container: 80 → 8080",
      '+ ports.1: {"name":"admin","container":9000}',
    ]);
  });

  it("finds nothing between equal specs, and says a value that changed kind changed", () => {
    expect(diffSpecs({ x: [1, 2] }, { x: [1, 2] })).toEqual([]);
    expect(diffSpecs({ x: [1] }, { x: { 0: 1 } })).toEqual([{ path: "x", kind: "changed", from: [1], to: { 0: 1 } }]);
  });
});
