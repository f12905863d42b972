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
let caller: MeshCredentials;
let stranger: MeshCredentials;
let foreign: MeshCredentials;

beforeAll(async () => {
  const { keys } = await generateSigningKey();
  const other = await generateSigningKey();
  const server = await node(keys, "node-server");
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
});
