import { describe, expect, it } from "vitest";
import { parseZoneName } from "./names";

describe("names", () => {
  it("reads zone names in lower case and leaves other names outside", () => {
    expect(parseZoneName("Web.Default.Leasehold.")).toEqual({ kind: "service", namespace: "default", service: "web" });
    expect(parseZoneName("_web._tcp.default.leasehold")).toEqual({ kind: "service-srv", namespace: "default", service: "web" });
    expect(parseZoneName("abc.web.default.leasehold")).toEqual({ kind: "endpoint", namespace: "default", service: "web", label: "abc" });
    expect(parseZoneName("web.default.leasehold.example.com")).toBeNull();
    expect(parseZoneName("notleasehold")).toBeNull();
    expect(parseZoneName(".")).toBeNull();
  });
});
