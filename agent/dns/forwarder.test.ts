import { describe, expect, it } from "vitest";
import { parseResolvConf } from "./forwarder";

describe("parseResolvConf", () => {
  it("takes the first nameserver, past comments and other options", () => {
    expect(parseResolvConf("# generated\nsearch lan\noptions ndots:2\nnameserver 10.0.0.53\nnameserver 1.1.1.1\n")).toEqual({ address: "10.0.0.53", port: 53 });
    expect(parseResolvConf("search lan\n")).toBeNull();
  });
});
