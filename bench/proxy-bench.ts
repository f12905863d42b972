// The agent's TCP proxy (upstreams and ingress) against a direct connection to the same backend, on
// loopback, in the same run: round-trip latency on a held connection and on fresh connections, and bulk
// throughput. Rounds alternate direct and proxied; figures are medians, and the ratio is proxied ÷ direct.
// "Meshed" is the path to another node's endpoint, both hops on this machine: the proxy dials the far
// agent's mesh port (mutual TLS, certificates as the control plane issues them), which opens the backend.
import { connect, createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { generateKeyPairSync } from "node:crypto";
import { listenForward } from "../agent/proxy/tcp-forward";
import { dialMesh, listenMesh, type MeshCredentials } from "../agent/mesh";
import { createLogger } from "../agent/log";
import { generateSigningKey } from "../worker/auth/keys";
import { issueNodeCertificate } from "../worker/mesh/certificates";
import { median } from "./stats";

export interface ProxyFigures {
  heldP50Us: number;
  heldP99Us: number;
  freshP99Us: number;
  throughputMiBs: number;
}

export interface ProxyResult {
  rounds: number;
  direct: ProxyFigures;
  proxied: ProxyFigures;
  meshed: ProxyFigures;
}

async function meshNode(keys: Awaited<ReturnType<typeof generateSigningKey>>["keys"], nodeId: string): Promise<MeshCredentials> {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const cert = await issueNodeCertificate(keys, nodeId, publicKey.export({ format: "jwk" }), Date.now(), 3_600_000);
  return { keyPem: privateKey.export({ format: "pem", type: "pkcs8" }) as string, certificate: cert.certificate, ca: cert.ca };
}

const PING = Buffer.alloc(64, 1);

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

/** Echo for round trips; a sink that answers with the byte count once the sender half-closes. */
async function backends(): Promise<{ echo: number; sink: number; close(): void }> {
  const echo = createServer((s) => s.pipe(s));
  const sink = createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on("data", (d: Buffer) => (n += d.length));
    s.on("end", () => s.end(String(n)));
  });
  return { echo: await listen(echo), sink: await listen(sink), close: () => (echo.close(), sink.close()) };
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: "127.0.0.1", noDelay: true }, () => resolve(s));
    s.once("error", reject);
  });
}

function roundTrip(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    let got = 0;
    const on = (d: Buffer) => {
      got += d.length;
      if (got >= PING.length) {
        s.off("data", on);
        resolve();
      }
    };
    s.on("data", on);
    s.write(PING);
  });
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function measure(echoPort: number, sinkPort: number, held: number, fresh: number, bytes: number): Promise<ProxyFigures> {
  const s = await open(echoPort);
  const rtts: number[] = [];
  for (let i = 0; i < held; i++) {
    const t0 = process.hrtime.bigint();
    await roundTrip(s);
    rtts.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  s.destroy();
  const freshRtts: number[] = [];
  for (let i = 0; i < fresh; i++) {
    const t0 = process.hrtime.bigint();
    const c = await open(echoPort);
    await roundTrip(c);
    freshRtts.push(Number(process.hrtime.bigint() - t0) / 1000);
    c.destroy();
  }
  const chunk = Buffer.alloc(64 * 1024, 7);
  const t0 = process.hrtime.bigint();
  const sink = await open(sinkPort);
  const counted = new Promise<number>((resolve) => {
    let text = "";
    sink.on("data", (d: Buffer) => (text += d.toString()));
    sink.on("end", () => resolve(Number(text)));
  });
  for (let sent = 0; sent < bytes; sent += chunk.length) if (!sink.write(chunk)) await new Promise((r) => sink.once("drain", r));
  sink.end();
  const received = await counted;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (received < bytes) throw new Error(`the sink counted ${received} of ${bytes} bytes`);
  return { heldP50Us: pct(rtts, 0.5), heldP99Us: pct(rtts, 0.99), freshP99Us: pct(freshRtts, 0.99), throughputMiBs: bytes / 1048576 / seconds };
}

export async function proxyBench(opts: { rounds: number; held: number; fresh: number; bytes: number }): Promise<ProxyResult> {
  const b = await backends();
  // One forwarder per backend, as the agent runs one per upstream port.
  const echoProxy = await listenForward({ host: "127.0.0.1", port: 0, connect: () => open(b.echo) });
  const sinkProxy = await listenForward({ host: "127.0.0.1", port: 0, connect: () => open(b.sink) });
  const { keys } = await generateSigningKey();
  const [far, near] = [await meshNode(keys, "far"), await meshNode(keys, "near")];
  const mesh = await listenMesh({ port: 0, host: "127.0.0.1", credentials: far, authorize: () => null, log: createLogger({ sink: () => undefined }) });
  const viaMesh = (port: number) => () => dialMesh({ nodeId: "far", address: "127.0.0.1", meshPort: mesh.port, port }, "default/bench", near, 3_000);
  const echoMeshed = await listenForward({ host: "127.0.0.1", port: 0, connect: viaMesh(b.echo) });
  const sinkMeshed = await listenForward({ host: "127.0.0.1", port: 0, connect: viaMesh(b.sink) });
  const direct: ProxyFigures[] = [];
  const proxied: ProxyFigures[] = [];
  const meshed: ProxyFigures[] = [];
  try {
    await measure(b.echo, b.sink, 200, 20, 8 << 20); // warm-up, not counted
    await measure(echoMeshed.port, sinkMeshed.port, 200, 20, 8 << 20);
    for (let r = 0; r < opts.rounds; r++) {
      direct.push(await measure(b.echo, b.sink, opts.held, opts.fresh, opts.bytes));
      proxied.push(await measure(echoProxy.port, sinkProxy.port, opts.held, opts.fresh, opts.bytes));
      meshed.push(await measure(echoMeshed.port, sinkMeshed.port, opts.held, opts.fresh, opts.bytes));
    }
  } finally {
    await echoProxy.close();
    await sinkProxy.close();
    await echoMeshed.close();
    await sinkMeshed.close();
    await mesh.close();
    b.close();
  }
  const med = (xs: ProxyFigures[]): ProxyFigures => ({
    heldP50Us: median(xs.map((x) => x.heldP50Us)),
    heldP99Us: median(xs.map((x) => x.heldP99Us)),
    freshP99Us: median(xs.map((x) => x.freshP99Us)),
    throughputMiBs: median(xs.map((x) => x.throughputMiBs)),
  });
  return { rounds: opts.rounds, direct: med(direct), proxied: med(proxied), meshed: med(meshed) };
}
