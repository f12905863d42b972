// The payload hash both sides compute: canonical JSON (sorted keys at every depth), SHA-256, base64url.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson, payloadHash } from "./payload-hash";

describe("canonical JSON", () => {
  it("sorts keys at every depth as strings, keeps array order, and leaves out undefined members", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined }, 10: "x", 9: "y" })).toBe('{"10":"x","9":"y","a":{"d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson([undefined, null, "s"])).toBe(JSON.stringify([undefined, null, "s"]));
  });

  it("serialises a value and its JSON round trip the same", () => {
    const value = { env: { "é": "ü", "\u2028": "line" }, n: 0.1 + 0.2, big: 1e21, list: [{ b: true, a: null }], gone: undefined };
    expect(canonicalJson(JSON.parse(JSON.stringify(value)))).toBe(canonicalJson(value));
  });
});

describe("payloadHash", () => {
  it("is SHA-256 of the canonical JSON (UTF-8), base64url without padding", async () => {
    const value = { image: "img", env: { "é": "1" }, command: ["a", "b"] };
    const expected = createHash("sha256").update(canonicalJson(value), "utf8").digest("base64url");
    expect(await payloadHash(value)).toBe(expected);
    expect(await payloadHash({})).toBe("RBNvo1WzZ4oRRq0W9-hknpT7T8If536DEMBg9hyq_4o");
  });

  it("does not depend on key order, and changes with any value", async () => {
    expect(await payloadHash({ a: 1, b: { c: 2, d: 3 } })).toBe(await payloadHash({ b: { d: 3, c: 2 }, a: 1 }));
    expect(await payloadHash({ a: 1 })).not.toBe(await payloadHash({ a: 2 }));
    expect(await payloadHash({ a: [1, 2] })).not.toBe(await payloadHash({ a: [2, 1] }));
  });
});
