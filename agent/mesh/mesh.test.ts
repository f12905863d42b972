// The mesh over real TLS on loopback, with certificates issued as the control plane issues them: a listed
// caller reaches the served port; a plain TCP client, a client without a certificate or with another
// cluster's, and a node that declares no upstream of the service reach nothing.
import { generateKeyPairSync } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey } from "../../worker/auth/keys";
import { issueNodeCertificate } from "../../worker/mesh/certificates";
import { createLogger } from "../log";
import { dialMesh, listenMesh, type MeshCredentials, type MeshServer } from ".";

const SERVICE = "default/db";
const log = createLogger({ sink: () => undefined });

async function node(keys: Awaited<ReturnType<typeof generateSigningKey>>["keys"], nodeId: string): Promise<MeshCredentials> {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const cert = await issueNodeCertificate(keys, nodeId, publicKey.export({ format: "jwk" }), Date.now(), 3_600_000);
  return { keyPem: privateKey.export({ format: "pem", type: "pkcs8" }) as string, certificate: cert.certificate, ca: cert.ca };
}

let backend: Server;
let backendPort: number;
/** Connections that reached the backend. */
let reached = 0;
let mesh: MeshServer;
let server: MeshCredentials;
let caller: MeshCredentials;
let stranger: MeshCredentials;
let foreign: MeshCredentials;

beforeAll(async () => {
  const { keys } = await generateSigningKey();
  const other = await generateSigningKey();
  server = await node(keys, "node-server");
  caller = await node(keys, "node-caller");
  stranger = await node(keys, "node-stranger");
  foreign = await node(other.keys, "node-caller");
  backend = createServer((s) => {
    reached++;
    s.on("data", (d) => s.write(`echo ${String(d)}`));
  });
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", () => r()));
  backendPort = (backend.address() as { port: number }).port;
  mesh = await listenMesh({
    port: 0,
    host: "127.0.0.1",
    credentials: server,
    // As the agent judges: the port must be one a task here serves the service on, and the caller listed.
    authorize: (node, service, port) => (service !== SERVICE || port !== backendPort ? "not served here" : node === "node-caller" ? null : `node ${node} declares no upstream of ${service}`),
    log,
  });
});

afterAll(async () => {
  await mesh.close();
  await new Promise<void>((r) => backend.close(() => r()));
});

const target = (nodeId = "node-server", port = backendPort) => ({ nodeId, address: "127.0.0.1", meshPort: mesh.port, port });

function roundTrip(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once("data", (d) => resolve(String(d)));
    socket.once("error", reject);
    socket.write(text);
  });
}

/** What a plain or TLS client gets from the mesh port after sending an ask line: everything until it closes. */
function drain(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    socket.on("data", (d) => (got += String(d)));
    socket.on("error", () => resolve(got));
    socket.on("close", () => resolve(got));
  });
}

describe("the mesh port", () => {
  it("lets a listed caller through to the served port, both ways", async () => {
    const before = reached;
    const socket = await dialMesh(target(), SERVICE, caller, 3_000);
    expect(await roundTrip(socket, "ping")).toBe("echo ping");
    socket.destroy();
    expect(reached).toBe(before + 1);
  });

  it("carries a half-close: a caller that has sent everything still gets the answer", async () => {
    const sink = createServer({ allowHalfOpen: true }, (s) => {
      let n = 0;
      s.on("data", (d: Buffer) => (n += d.length));
      s.on("end", () => s.end(String(n)));
    });
    await new Promise<void>((r) => sink.listen(0, "127.0.0.1", () => r()));
    const sinkPort = (sink.address() as { port: number }).port;
    const halfMesh = await listenMesh({ port: 0, host: "127.0.0.1", credentials: server, authorize: () => null, log });
    try {
      const socket = await dialMesh({ nodeId: "node-server", address: "127.0.0.1", meshPort: halfMesh.port, port: sinkPort }, SERVICE, caller, 3_000);
      const answer = drain(socket);
      socket.end(Buffer.alloc(100_000, 1));
      expect(await answer).toBe("100000");
    } finally {
      await halfMesh.close();
      await new Promise<void>((r) => sink.close(() => r()));
    }
  });

  it("refuses a node with a valid certificate that declares no upstream of the service, and a port not served", async () => {
    const before = reached;
    await expect(dialMesh(target(), SERVICE, stranger, 3_000)).rejects.toThrow(/refused: node node-stranger declares no upstream of default\/db/);
    await expect(dialMesh(target("node-server", backendPort + 1), SERVICE, caller, 3_000)).rejects.toThrow(/refused: not served here/);
    await expect(dialMesh(target(), "default/other", caller, 3_000)).rejects.toThrow(/refused: not served here/);
    expect(reached).toBe(before);
  });

  it("gives a plain TCP client, and a TLS client without a certificate, nothing", async () => {
    const before = reached;
    const plain = connect({ host: "127.0.0.1", port: mesh.port });
    const plainGot = drain(plain);
    plain.write(`${JSON.stringify({ service: SERVICE, port: backendPort })}\n`);
    expect(await plainGot).not.toContain("ok");
    const anonymous = tlsConnect({ host: "127.0.0.1", port: mesh.port, ca: [caller.ca], checkServerIdentity: () => undefined });
    const anonymousGot = drain(anonymous);
    anonymous.write(`${JSON.stringify({ service: SERVICE, port: backendPort })}\n`);
    expect(await anonymousGot).not.toContain("ok");
    expect(reached).toBe(before);
  });

  it("refuses a certificate of another cluster, and the caller refuses a mesh port that is not the endpoint's node", async () => {
    const before = reached;
    await expect(dialMesh(target(), SERVICE, foreign, 3_000)).rejects.toThrow();
    await expect(dialMesh(target("node-elsewhere"), SERVICE, caller, 3_000)).rejects.toThrow(/node node-server's, not node-elsewhere's/);
    expect(reached).toBe(before);
  });

  it("keeps no connection of a peer that gave up mid-handshake, nor one that never sends its ask", async () => {
    const strict = await listenMesh({ port: 0, host: "127.0.0.1", credentials: server, authorize: () => null, log, handshakeTimeoutMs: 300 });
    try {
      await expect(dialMesh({ nodeId: "node-elsewhere", address: "127.0.0.1", meshPort: strict.port, port: backendPort }, SERVICE, caller, 3_000)).rejects.toThrow(/not node-elsewhere's/);
      // A peer that connects and says nothing at all.
      const silent = connect({ host: "127.0.0.1", port: strict.port });
      await new Promise((r) => silent.once("connect", r));
      await new Promise((r) => setTimeout(r, 1_000));
      expect(strict.connections()).toBe(0);
      silent.destroy();
    } finally {
      await strict.close();
    }
  });
});
