// The service catalog through the API, with hollow agents reporting real lease traffic: endpoints are the
// running, live-leased tasks of a job's current version at their nodes' advertised addresses and published
// ports; only healthy ones by default; a blocking query answers when the set changes; heartbeats carry the
// sets a node asks for by index, and the ingress listeners of the nodes that match.
import { generateKeyPairSync, X509Certificate, type KeyObject } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HollowAgent, type Fetcher } from "../../bench/hollow-agent";
import type { ServiceSnapshot } from "../../api/services";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { expectJson, expectProblem } from "../api/helpers";

let cp: TestControlPlane;
beforeEach(async () => {
  cp = await createTestControlPlane();
});
afterEach(() => cp.close());

async function agent(name: string, region: string, address: string, labels: Record<string, string> = {}): Promise<HollowAgent> {
  const fetcher: Fetcher = async (path, init) => cp.app.request(path, init);
  const { token } = await expectJson<{ token: string }>(await cp.call("POST", "/v1/join-tokens", { body: {} }), 201);
  const a = new HollowAgent(fetcher, name, { region, labels, advertise: [{ address, scope: "region" }] });
  await a.enroll(token);
  await a.heartbeat();
  return a;
}

const web = (extra: Record<string, unknown> = {}) => ({
  name: "web",
  image: "img",
  replicas: 2,
  resources: { cpu: 100, memory: 64 },
  ports: [{ name: "http", container: 8080, service: { name: "web", tags: ["v1"] } }],
  spread: { attribute: "region" },
  ...extra,
});

/** Claims, then reports every lease running with its port published at `hostPort`. */
async function run(a: HollowAgent, hostPort: number): Promise<void> {
  await a.claim();
  for (const l of a.leases.values()) l.hostPorts = [{ container: 8080, host: hostPort }];
  await a.heartbeat();
}

async function service(query = ""): Promise<ServiceSnapshot> {
  return expectJson<ServiceSnapshot>(await cp.call("GET", `/v1/services/web${query}`));
}

describe("the service catalog", () => {
  it("serves each running task at its node's address and published port, healthy ones by default", async () => {
    const a = await agent("node-a", "eu", "10.0.0.1");
    const b = await agent("node-b", "us", "10.1.0.1");
    await expectJson(await cp.call("POST", "/v1/jobs", { body: web() }));
    await cp.settled();
    await run(a, 21001);
    await run(b, 21002);
    const s = await service();
    expect(s.endpoints.map((e) => [e.nodeName, e.region, e.addresses[0]?.address, e.port, e.tags, e.healthy]).sort()).toEqual([
      ["node-a", "eu", "10.0.0.1", 21001, ["v1"], true],
      ["node-b", "us", "10.1.0.1", 21002, ["v1"], true],
    ]);
    const list = await expectJson<{ services: { name: string; healthy: number; endpoints: number; jobs: string[] }[] }>(await cp.call("GET", "/v1/services"));
    expect(list.services).toEqual([expect.objectContaining({ name: "web", healthy: 2, endpoints: 2, jobs: ["default/web"] })]);

    // An unhealthy endpoint leaves the default view, and stays in ?all=1 with its flag.
    for (const l of b.leases.values()) l.health = "unhealthy";
    await b.heartbeat();
    expect((await service()).endpoints.map((e) => e.nodeName)).toEqual(["node-a"]);
    expect((await service("?all=1")).endpoints.map((e) => [e.nodeName, e.healthy]).sort()).toEqual([
      ["node-a", true],
      ["node-b", false],
    ]);
    // Unknown services and namespaces without a role are refused.
    await expectProblem(await cp.call("GET", "/v1/services/nothing"), 404, "not-found");
    const other = await cp.token({ prod: "viewer" });
    await expectProblem(await cp.call("GET", "/v1/services/web", { token: other }), 403);
    await expectProblem(await cp.call("GET", "/v1/services/web?wait=10h&index=1"), 400);
  });

  it("a blocking query waits while the set is the one it names, and answers when it changes", async () => {
    const a = await agent("node-a", "eu", "10.0.0.1");
    await expectJson(await cp.call("POST", "/v1/jobs", { body: web({ replicas: 1 }) }));
    await cp.settled();
    await run(a, 21001);
    const first = await service();
    expect(first.endpoints).toHaveLength(1);
    // Unchanged: it waits out its wait and answers the same set.
    const started = Date.now();
    const same = await service(`?index=${first.index}&wait=600ms`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(same.index).toBe(first.index);
    // Changed while it waits: it answers with the new set, before its wait is out.
    const waiting = service(`?index=${first.index}&wait=20s`);
    await new Promise((r) => setTimeout(r, 300));
    for (const l of a.leases.values()) l.health = "unhealthy";
    await a.heartbeat();
    const changed = await waiting;
    expect(changed.index).not.toBe(first.index);
    expect(changed.endpoints).toEqual([]);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("heartbeats carry the sets a node asks for, only when its index is not theirs", async () => {
    const a = await agent("node-a", "eu", "10.0.0.1");
    const client = await agent("node-c", "eu", "10.0.0.3");
    await expectJson(await cp.call("POST", "/v1/jobs", { body: web({ replicas: 1, spread: undefined, constraints: [{ attribute: "name", value: "node-a" }] }) }));
    await cp.settled();
    await run(a, 21001);
    const asked = await client.heartbeat({ services: { "default/web": 0 } });
    expect(asked.services).toHaveLength(1);
    const held = asked.services![0]!;
    expect(held.endpoints.map((e) => [e.nodeName, e.port])).toEqual([["node-a", 21001]]);
    // Holding that set: nothing comes. A heartbeat that asks nothing gets no discovery fields at all.
    expect((await client.heartbeat({ services: { "default/web": held.index } })).services).toBeUndefined();
    const plain = await client.heartbeat();
    expect(plain).not.toHaveProperty("services");
    expect(plain).not.toHaveProperty("ingress");
    // The task stops: the set changes, and the next heartbeat carries it.
    expect((await cp.call("POST", "/v1/namespaces/default/jobs/web/stop", { body: {} })).status).toBe(200);
    await cp.settled();
    await a.heartbeat();
    const after = await client.heartbeat({ services: { "default/web": held.index } });
    expect(after.services?.[0]?.endpoints).toEqual([]);
  });

  it("ingress listeners go to the nodes that match, by index", async () => {
    const edge = await agent("edge-1", "eu", "10.0.0.9", { role: "edge" });
    const inner = await agent("inner-1", "eu", "10.0.0.8");
    await expectJson(
      await cp.call("POST", "/v1/jobs", { body: web({ replicas: 1, spread: undefined, ingress: [{ port: 8088, service: "web", nodes: [{ attribute: "label.role", value: "edge" }] }] }) }),
    );
    const got = await edge.heartbeat({ ingress: 0 });
    expect(got.ingress?.listeners).toEqual([{ port: 8088, namespace: "default", service: "web", jobId: "default/web" }]);
    expect((await edge.heartbeat({ ingress: got.ingress!.index })).ingress).toBeUndefined();
    expect((await inner.heartbeat({ ingress: 0 })).ingress?.listeners).toEqual([]);
    const bad = await expectProblem(await cp.call("POST", "/v1/jobs", { body: web({ name: "bad", ingress: [{ port: 80, service: "api" }] }) }), 400);
    expect(bad.errors?.[0]?.path).toBe("ingress.0.service");
  });

  it("mesh: a node gets a certificate naming it, its mesh port and addresses go with its endpoints (and move when it says so), and a set's callers are the nodes that declare it as an upstream or serve an ingress of it", async () => {
    const meshKey = (publicKey: KeyObject) => publicKey.export({ format: "jwk" }) as { kty: "OKP"; crv: "Ed25519"; x: string };
    const serverKey = generateKeyPairSync("ed25519").publicKey;
    const fetcher: Fetcher = async (path, init) => cp.app.request(path, init);
    const { token } = await expectJson<{ token: string }>(await cp.call("POST", "/v1/join-tokens", { body: {} }), 201);
    const a = new HollowAgent(fetcher, "node-a", { region: "eu", advertise: [{ address: "10.0.0.1", scope: "region" }], mesh: { key: meshKey(serverKey), port: 7701 } });
    const enrolled = await a.enroll(token);
    await a.heartbeat();
    const cert = new X509Certificate(enrolled.mesh!.certificate);
    expect(cert.subjectAltName).toBe(`URI:urn:leasehold:node:${enrolled.nodeId}`);
    expect(cert.verify(new X509Certificate(enrolled.mesh!.ca).publicKey)).toBe(true);
    expect(cert.publicKey.export({ format: "jwk" }).x).toBe(meshKey(serverKey).x);

    const client = await agent("node-c", "eu", "10.0.0.3");
    const stranger = await agent("node-s", "eu", "10.0.0.4");
    const edge = await agent("edge-1", "eu", "10.0.0.9", { role: "edge" });
    await expectJson(
      await cp.call("POST", "/v1/jobs", {
        body: web({ replicas: 1, spread: undefined, constraints: [{ attribute: "name", value: "node-a" }], ingress: [{ port: 8088, service: "web", nodes: [{ attribute: "label.role", value: "edge" }] }] }),
      }),
    );
    const app = { name: "app", image: "img", replicas: 1, resources: { cpu: 100, memory: 64 }, upstreams: [{ service: "web", port: 9000 }], constraints: [{ attribute: "name", value: "node-c" }] };
    await expectJson(await cp.call("POST", "/v1/jobs", { body: app }));
    await cp.settled();
    await run(a, 21001);
    await client.claim();
    await client.heartbeat();
    const s = await service();
    expect(s.endpoints.map((e) => [e.nodeName, e.meshPort])).toEqual([["node-a", 7701]]);
    expect(s.callers).toEqual([client.nodeId, edge.nodeId].sort());
    expect(s.callers).not.toContain(stranger.nodeId);

    // Asked for through the heartbeat (an agent restarted on another port): a new certificate, and the port moves.
    const renewed = await a.heartbeat({ mesh: { key: meshKey(serverKey), port: 7702 } });
    expect(new X509Certificate(renewed.mesh!.certificate).serialNumber).not.toBe(cert.serialNumber);
    expect((await service()).endpoints.map((e) => e.meshPort)).toEqual([7702]);
    // So do its addresses, told on the first heartbeat after a restart.
    await a.heartbeat({ advertise: [{ address: "10.0.0.11", scope: "region" }, { address: "203.0.113.11", scope: "public" }] });
    expect((await service()).endpoints.map((e) => e.addresses)).toEqual([[{ address: "10.0.0.11", scope: "region" }, { address: "203.0.113.11", scope: "public" }]]);
    // The client's task stops: it is no longer a caller.
    expect((await cp.call("POST", "/v1/namespaces/default/jobs/app/stop", { body: {} })).status).toBe(200);
    await cp.settled();
    await client.heartbeat();
    expect((await service()).callers).toEqual([edge.nodeId]);
    // A key that is not an Ed25519 public key is refused with its field.
    const bad = await expectProblem(await fetcher("/v1/agent/heartbeat", { method: "POST", headers: { authorization: `Bearer ${a.credential}`, "content-type": "application/json" }, body: JSON.stringify({ tasks: [], mesh: { key: { kty: "OKP", crv: "X25519", x: meshKey(serverKey).x }, port: 7702 } }) }), 400);
    expect(bad.errors?.[0]?.path).toBe("mesh.key.crv");
  });
});
