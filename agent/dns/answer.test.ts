import type { Answer, Question } from "dns-packet";
import { describe, expect, it } from "vitest";
import type { Endpoint } from "../../api/services";
import { answerInZone } from "./answer";
import { compileView, taskLabels } from "./view";
import type { DnsView } from "./view";

const NODE = { nodeId: "n1", region: "r1" };
const GATEWAY_A = "10.88.0.1";
const GATEWAY_B = "10.89.0.1";

function endpoint(taskId: string, overrides: Partial<Endpoint> = {}): Endpoint {
  return { taskId, jobId: "web", slot: 0, version: 1, nodeId: "n1", nodeName: "n1", region: "r1", addresses: [], meshPort: null, port: 30_000, tags: [], healthy: true, ...overrides };
}

const view: DnsView = {
  upstreams: {
    [GATEWAY_A]: [{ service: "web", namespace: "default", port: 8080 }],
    [GATEWAY_B]: [{ service: "db", namespace: "default", port: 5432 }],
  },
  services: {
    "default/web": {
      namespace: "default",
      name: "web",
      index: 1,
      endpoints: [
        endpoint("11111111-aaaa", { port: 31_001 }),
        endpoint("22222222-bbbb", { nodeId: "n2", addresses: [{ address: "192.168.1.2", scope: "region" }], port: 31_002 }),
      ],
      callers: [],
    },
    "default/db": { namespace: "default", name: "db", index: 1, endpoints: [], callers: [] },
  },
};

const served = compileView(view, NODE);
const dataOf = (a: Answer) => ("data" in a ? a.data : undefined);
const ask = (name: string, type: Question["type"], at = GATEWAY_A) => answerInZone({ name, type }, at, served);

describe("answerInZone", () => {
  it("serves a service only on the gateways whose network declared it", () => {
    expect(ask("web.default.leasehold", "A").answers).toEqual([{ type: "A", name: "web.default.leasehold", ttl: 5, data: GATEWAY_A }]);
    expect(ask("web.default.leasehold", "A", GATEWAY_B).rcode).toBe("NXDOMAIN");
    expect(ask("db.default.leasehold", "A", GATEWAY_B).answers.map(dataOf)).toEqual([GATEWAY_B]);
    expect(ask("web.default.leasehold", "A", "10.99.0.1").rcode).toBe("NXDOMAIN");
  });

  it("gives a same-node endpoint the gateway address, since the node's loopback inside a container is the container", () => {
    const srv = ask("web.default.leasehold", "SRV");
    expect(srv.answers.map(dataOf)).toEqual([
      { priority: 0, weight: 1, port: 31_001, target: "11111111.web.default.leasehold" },
      { priority: 1, weight: 1, port: 31_002, target: "22222222.web.default.leasehold" },
    ]);
    expect(srv.additionals.map(dataOf)).toEqual([GATEWAY_A, "192.168.1.2"]);
  });

  it("a declared service with no endpoints has its A and an empty SRV set", () => {
    const srv = ask("db.default.leasehold", "SRV", GATEWAY_B);
    expect(srv.rcode).toBe("NOERROR");
    expect(srv.answers).toEqual([]);
  });

  it("the zone and a namespace in use exist without records; the A of the SRV form is empty", () => {
    expect(ask("leasehold", "SOA").answers.map((a) => a.type)).toEqual(["SOA"]);
    expect(ask("default.leasehold", "A")).toMatchObject({ rcode: "NOERROR", answers: [] });
    expect(ask("other.leasehold", "A").rcode).toBe("NXDOMAIN");
    expect(ask("_web._tcp.default.leasehold", "A")).toMatchObject({ rcode: "NOERROR", answers: [] });
    expect(ask("a.b.web.default.leasehold", "A").rcode).toBe("NXDOMAIN");
    expect(ask("_web._udp.default.leasehold", "SRV").rcode).toBe("NXDOMAIN");
  });

  it("refuses classes other than IN", () => {
    expect(answerInZone({ name: "web.default.leasehold", type: "A", class: "CH" }, GATEWAY_A, served).rcode).toBe("REFUSED");
  });
});

describe("taskLabels", () => {
  it("task labels are 8 characters unless two tasks share them", () => {
    expect(taskLabels(["ABCDEF12-3456", "abcdef12-9999", "01234567-x"])).toEqual(["abcdef123456", "abcdef129999", "01234567"]);
  });
});
