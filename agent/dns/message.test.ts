import * as packet from "dns-packet";
import { describe, expect, it } from "vitest";
import { decodeQuery, encodeWithin, reply, udpLimit } from "./message";

describe("encodeWithin", () => {
  const big = {
    type: "response" as const,
    id: 1,
    questions: [{ name: "web.default.leasehold", type: "SRV" as const }],
    answers: Array.from({ length: 5 }, (_, i) => ({ type: "SRV" as const, name: "web.default.leasehold", ttl: 5, data: { port: i + 1, target: `t${i}.web.default.leasehold` } })),
    additionals: Array.from({ length: 5 }, (_, i) => ({ type: "A" as const, name: `t${i}.web.default.leasehold`, ttl: 5, data: `10.0.0.${i}` })),
  };

  it("drops the additional section before the answers, without the truncation flag", () => {
    const full = packet.encode(big).length;
    const lean = packet.decode(encodeWithin(big, full - 1));
    expect(lean.answers).toHaveLength(5);
    expect(lean.additionals).toEqual([]);
    expect(lean.flag_tc).toBe(false);
    const cut = packet.decode(encodeWithin(big, 100));
    expect(cut.answers).toEqual([]);
    expect(cut.flag_tc).toBe(true);
  });
});


describe("EDNS", () => {
  const opt = { type: "OPT" as const, name: ".", udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
  const asked = (additionals: packet.Answer[]) =>
    decodeQuery(packet.encode({ type: "query", id: 9, questions: [{ name: "web.default.leasehold", type: "SRV" }], additionals }));

  it("a query with an OPT record may have a larger UDP reply, capped, and its reply carries OPT through a trim", () => {
    const withOpt = asked([opt]);
    const plain = asked([]);
    if (withOpt === null || plain === null) throw new Error("the test queries did not decode");
    expect(udpLimit(plain)).toBe(512);
    expect(udpLimit(withOpt)).toBe(1232);
    const additionals = Array.from({ length: 5 }, (_, i) => ({ type: "A" as const, name: `t${i}.web.default.leasehold`, ttl: 5, data: `10.0.0.${i}` }));
    const response = reply(withOpt, { rcode: "NOERROR", additionals });
    const trimmed = packet.decode(encodeWithin(response, packet.encodingLength(response) - 1));
    expect(trimmed.additionals?.map((a) => a.type)).toEqual(["OPT"]);
    expect(trimmed.id).toBe(9);
  });
});
