// The agent's DNS over real sockets on 127.0.0.1: service answers from the view, forwarding to a stand-in
// upstream resolver, SERVFAIL when it is gone or silent, TCP, truncation, and malformed messages.
import { createSocket } from "node:dgram";
import * as packet from "dns-packet";
import type { SrvAnswer, StringAnswer } from "dns-packet";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ServiceSnapshot } from "../../api/services";
import { createDnsServer } from "../../agent/dns";
import { createLogger } from "../../agent/log";
import type { LogFields } from "../../agent/log";
import type { DnsServer, DnsView } from "../../agent/dns";
import { askTcp, askUdp, query, rcodeOf, sendAndWait, startStandInResolver, testEndpoint, udpClient } from "../support/dns";
import type { StandIn } from "../support/dns";

const AT = "127.0.0.1";
const NODE = { nodeId: "n1", region: "r1" };

const healthyNear = testEndpoint("aaaaaaaa-0000-4000-8000-000000000001", { nodeId: "n2", region: "r1", addresses: [{ address: "10.0.0.2", scope: "region" }], port: 31_001 });
const healthyFar = testEndpoint("bbbbbbbb-0000-4000-8000-000000000002", { nodeId: "n3", region: "r2", addresses: [{ address: "203.0.113.3", scope: "public" }], port: 31_002 });
const unhealthy = testEndpoint("cccccccc-0000-4000-8000-000000000003", { nodeId: "n4", region: "r1", addresses: [{ address: "10.0.0.4", scope: "region" }], port: 31_003, healthy: false });
const unreachable = testEndpoint("dddddddd-0000-4000-8000-000000000004", { nodeId: "n5", region: "r3", addresses: [{ address: "10.9.0.5", scope: "region" }], port: 31_004 });

function snapshot(endpoints: ServiceSnapshot["endpoints"], name = "web", index = 1): ServiceSnapshot {
  return { namespace: "default", name, index, endpoints, callers: [] };
}

function viewOf(services: ServiceSnapshot[], at = AT): DnsView {
  return {
    upstreams: { [at]: services.map((s) => ({ service: s.name, namespace: s.namespace, port: 8080 })) },
    services: Object.fromEntries(services.map((s) => [`${s.namespace}/${s.name}`, s])),
  };
}

const webView = viewOf([snapshot([healthyNear, healthyFar, unhealthy, unreachable])]);

let server: DnsServer;
let port: number;
let upstream: StandIn;

beforeEach(async () => {
  upstream = await startStandInResolver("192.0.2.7");
  server = createDnsServer({ node: NODE, view: webView, forwarder: { address: "127.0.0.1", port: upstream.port }, forwardTimeoutMs: 500 });
  ({ port } = await server.listen(AT, 0));
});

afterEach(async () => {
  await server.close();
  await upstream.close();
});

const srvOf = (answers: packet.Answer[] | undefined) => (answers ?? []).filter((a): a is SrvAnswer => a.type === "SRV");
const aOf = (answers: packet.Answer[] | undefined) => (answers ?? []).filter((a): a is StringAnswer => a.type === "A");

describe("names under .leasehold", () => {
  it("A for a served service is the listening gateway address, with a short TTL and the authoritative bit", async () => {
    const res = await askUdp(port, query("web.default.leasehold", "A"));
    expect(rcodeOf(res)).toBe("NOERROR");
    expect(res.flag_aa).toBe(true);
    expect(aOf(res.answers).map((a) => [a.name, a.data, a.ttl])).toEqual([["web.default.leasehold", AT, 5]]);
  });

  it("SRV lists the healthy reachable endpoints, nearest first, with their addresses in the additional section", async () => {
    const res = await askUdp(port, query("web.default.leasehold", "SRV"));
    expect(rcodeOf(res)).toBe("NOERROR");
    expect(srvOf(res.answers).map((a) => a.data)).toEqual([
      { priority: 1, weight: 1, port: 31_001, target: "aaaaaaaa.web.default.leasehold" },
      { priority: 2, weight: 1, port: 31_002, target: "bbbbbbbb.web.default.leasehold" },
    ]);
    expect(aOf(res.additionals).map((a) => [a.name, a.data])).toEqual([
      ["aaaaaaaa.web.default.leasehold", "10.0.0.2"],
      ["bbbbbbbb.web.default.leasehold", "203.0.113.3"],
    ]);
    const ports = srvOf(res.answers).map((a) => a.data.port);
    expect(ports).not.toContain(unhealthy.port);
    expect(ports).not.toContain(unreachable.port);
  });

  it("the _service._tcp form answers the same SRV set; a target's A is its endpoint's address", async () => {
    const res = await askUdp(port, query("_web._tcp.default.leasehold", "SRV"));
    expect(srvOf(res.answers).map((a) => [a.name, a.data.target])).toEqual([
      ["_web._tcp.default.leasehold", "aaaaaaaa.web.default.leasehold"],
      ["_web._tcp.default.leasehold", "bbbbbbbb.web.default.leasehold"],
    ]);
    const target = await askUdp(port, query("bbbbbbbb.web.default.leasehold", "A"));
    expect(aOf(target.answers).map((a) => a.data)).toEqual(["203.0.113.3"]);
    const hidden = await askUdp(port, query("cccccccc.web.default.leasehold", "A"));
    expect(rcodeOf(hidden)).toBe("NXDOMAIN");
  });

  it("an unknown service is NXDOMAIN and is not forwarded", async () => {
    const res = await askUdp(port, query("api.default.leasehold", "A"));
    expect(rcodeOf(res)).toBe("NXDOMAIN");
    expect(res.answers).toEqual([]);
    expect(res.authorities?.map((a) => a.type)).toEqual(["SOA"]);
    const other = await askUdp(port, query("web.other.leasehold", "A"));
    expect(rcodeOf(other)).toBe("NXDOMAIN");
    expect(upstream.asked).toEqual([]);
  });

  it("names are matched without regard to case, with or without the trailing dot", async () => {
    const res = await askUdp(port, query("WEB.Default.LeaseHold.", "A"));
    expect(rcodeOf(res)).toBe("NOERROR");
    expect(aOf(res.answers).map((a) => a.data)).toEqual([AT]);
    expect(res.questions?.[0]?.name).toBe("WEB.Default.LeaseHold");
    const srv = await askUdp(port, query("_WEB._TCP.DEFAULT.LEASEHOLD", "SRV"));
    expect(srvOf(srv.answers)).toHaveLength(2);
  });

  it("AAAA for a known name is an empty NOERROR answer, not NXDOMAIN", async () => {
    const res = await askUdp(port, query("web.default.leasehold", "AAAA"));
    expect(rcodeOf(res)).toBe("NOERROR");
    expect(res.answers).toEqual([]);
    const unknown = await askUdp(port, query("api.default.leasehold", "AAAA"));
    expect(rcodeOf(unknown)).toBe("NXDOMAIN");
  });

  it("a new view changes the answers", async () => {
    const before = await askUdp(port, query("web.default.leasehold", "SRV"));
    expect(srvOf(before.answers).map((a) => a.data.port)).toEqual([31_001, 31_002]);

    server.setView(viewOf([snapshot([{ ...unhealthy, healthy: true }, healthyFar], "web", 2), snapshot([], "api")]));
    const after = await askUdp(port, query("web.default.leasehold", "SRV"));
    expect(srvOf(after.answers).map((a) => a.data.port)).toEqual([31_003, 31_002]);
    const api = await askUdp(port, query("api.default.leasehold", "A"));
    expect(aOf(api.answers).map((a) => a.data)).toEqual([AT]);

    server.setView(viewOf([snapshot([], "api")]));
    expect(rcodeOf(await askUdp(port, query("web.default.leasehold", "A")))).toBe("NXDOMAIN");
  });

  it("answers over TCP, and a set too big for a UDP reply is truncated there and whole over TCP", async () => {
    const tcp = await askTcp(port, query("web.default.leasehold", "SRV"));
    expect(srvOf(tcp.answers).map((a) => a.data.port)).toEqual([31_001, 31_002]);
    expect(aOf(tcp.additionals)).toHaveLength(2);

    const many = Array.from({ length: 40 }, (_, i) =>
      testEndpoint(`${(0x10000000 + i).toString(16)}-0000-4000-8000-000000000000`, { nodeId: "n2", addresses: [{ address: `10.0.1.${i + 1}`, scope: "region" }], port: 32_000 + i }),
    );
    server.setView(viewOf([snapshot(many)]));
    const udp = await askUdp(port, query("web.default.leasehold", "SRV"));
    expect(udp.flag_tc).toBe(true);
    expect(udp.answers).toEqual([]);
    const whole = await askTcp(port, query("web.default.leasehold", "SRV"));
    expect(whole.flag_tc).toBe(false);
    expect(srvOf(whole.answers)).toHaveLength(40);
    expect(aOf(whole.additionals)).toHaveLength(40);
  });
});

describe("other names", () => {
  it("are forwarded to the upstream resolver, over UDP and over TCP, with the asker's id", async () => {
    const request = query("example.test", "A");
    const res = await askUdp(port, request);
    expect(res.id).toBe(request.id);
    expect(rcodeOf(res)).toBe("NOERROR");
    expect(aOf(res.answers).map((a) => [a.name, a.data])).toEqual([["example.test", "192.0.2.7"]]);
    const tcp = await askTcp(port, query("tcp.example.test", "A"));
    expect(aOf(tcp.answers).map((a) => a.data)).toEqual(["192.0.2.7"]);
    expect(upstream.asked.map((q) => q.name)).toEqual(["example.test", "tcp.example.test"]);
  });

  it("are answered SERVFAIL when the upstream resolver is down", async () => {
    await upstream.close();
    const res = await askUdp(port, query("example.test", "A"));
    expect(rcodeOf(res)).toBe("SERVFAIL");
    expect(res.answers).toEqual([]);
    const tcp = await askTcp(port, query("example.test", "A"));
    expect(rcodeOf(tcp)).toBe("SERVFAIL");
    upstream = await startStandInResolver();
  });

  it("are answered SERVFAIL once the timeout passes when the upstream resolver is silent", async () => {
    const silent = createSocket("udp4");
    await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", () => resolve()));
    const quiet = createDnsServer({ node: NODE, forwarder: { address: "127.0.0.1", port: silent.address().port }, forwardTimeoutMs: 300 });
    try {
      const { port: quietPort } = await quiet.listen(AT, 0);
      const started = Date.now();
      const res = await askUdp(quietPort, query("example.test", "A"), 3_000, AT);
      expect(rcodeOf(res)).toBe("SERVFAIL");
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    } finally {
      await quiet.close();
      silent.close();
    }
  });
});

describe("robustness", () => {
  it("drops malformed messages and responses without a reply, then answers the next query", async () => {
    const client = await udpClient();
    try {
      const good = packet.encode(query("web.default.leasehold", "A"));
      const junk = [
        Buffer.from("not a dns message"),
        Buffer.alloc(3),
        good.subarray(0, good.length - 3),
        packet.encode({ type: "response", id: 7, questions: [{ name: "web.default.leasehold", type: "A" }] }),
        Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1]),
      ];
      for (const bytes of junk) client.socket.send(bytes, port, AT);
      const res = await sendAndWait(client.socket, port, AT, good);
      expect(aOf(res.answers).map((a) => a.data)).toEqual([AT]);
      await new Promise((r) => setTimeout(r, 100));
      expect(client.received).toHaveLength(1);
    } finally {
      client.close();
    }
  });

  it("answers a query of several questions FORMERR, and serves only the addresses it listens on", async () => {
    const two = await askUdp(port, query("web.default.leasehold", "A", { questions: [{ name: "a.leasehold", type: "A" }, { name: "b.leasehold", type: "A" }] }));
    expect(rcodeOf(two)).toBe("FORMERR");
    await expect(server.listen(AT, 0)).rejects.toThrow(/already served/);
    await server.close(AT);
    await expect(askUdp(port, query("web.default.leasehold", "A"), 300)).rejects.toThrow(/no UDP reply/);
  });

  it("logs query names at debug only", async () => {
    const lines: Array<{ message: string; fields: LogFields }> = [];
    const log = createLogger({ level: "debug", sink: (message, fields = {}) => lines.push({ message, fields }) });
    const logged = createDnsServer({ node: NODE, view: viewOf([snapshot([healthyNear])], AT), forwarder: { address: "127.0.0.1", port: upstream.port }, log });
    try {
      const { port: loggedPort } = await logged.listen(AT, 0);
      await askUdp(loggedPort, query("web.default.leasehold", "A"), 3_000, AT);
      await askUdp(loggedPort, query("secret-host.example.test", "A"), 3_000, AT);
      await askUdp(loggedPort, Buffer.from("junk-secret-host"), 300, AT).catch(() => undefined);
    } finally {
      await logged.close();
    }
    const mentions = (name: string) => lines.filter((l) => JSON.stringify(l).includes(name));
    expect(mentions("web.default.leasehold").map((l) => l.fields["level"])).toEqual(["debug"]);
    expect(lines.filter((l) => l.fields["level"] !== "debug").every((l) => !JSON.stringify(l).includes("secret-host"))).toBe(true);
    expect(lines.some((l) => l.fields["level"] === "info" && l.message === "dns: serving")).toBe(true);
  });
});
