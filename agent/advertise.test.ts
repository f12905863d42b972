import type { NetworkInterfaceInfo } from "node:os";
import { describe, expect, it } from "vitest";
import { detectAdvertise } from "./advertise";

const v4 = (address: string, internal = false): NetworkInterfaceInfo => ({ address, family: "IPv4", internal, netmask: "255.255.255.0", mac: "00:00:00:00:00:00", cidr: `${address}/24` });
const v6 = (address: string): NetworkInterfaceInfo => ({ address, family: "IPv6", internal: false, netmask: "ffff::", mac: "00:00:00:00:00:00", cidr: `${address}/64`, scopeid: 0 });

describe("detectAdvertise", () => {
  it("takes the first non-internal IPv4 address, passing over loopback, engine bridges, veths and link-local addresses", () => {
    expect(
      detectAdvertise({
        lo: [v4("127.0.0.1", true)],
        docker0: [v4("172.17.0.1")],
        "br-0123456789ab": [v4("172.18.0.1")],
        veth12ab: [v4("169.254.3.3")],
        eth0: [v6("fe80::1"), v4("169.254.9.9"), v4("10.1.2.3")],
        eth1: [v4("10.9.9.9")],
      }),
    ).toEqual([{ address: "10.1.2.3", scope: "region" }]);
  });

  it("advertises nothing when the host has no such address", () => {
    expect(detectAdvertise({ lo: [v4("127.0.0.1", true)], docker0: [v4("172.17.0.1")] })).toEqual([]);
  });
});
