// The node's mesh port: where other nodes' proxies open this node's endpoints, over mutual TLS. A caller
// shows a certificate the cluster CA issued (it names its node), asks for one service's host port, and is
// let through only if a task here serves that service on that port and the control plane lists the caller
// among the service's callers (a node running a task that declares it as an upstream, or serving an
// ingress of it). Anything else (no certificate, another CA's, a port or service not asked for) gets
// nothing: the TLS handshake fails, or the answer is a refusal and the connection ends.
import { connect, type Socket } from "node:net";
import { createServer, type Server, type TLSSocket } from "node:tls";
import { nodeIdOfAltName } from "../../api/mesh";
import type { Logger } from "../log";
import { parseAsk, readLine } from "./wire";

const CONNECT_TIMEOUT_MS = 3_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface MeshCredentials {
  keyPem: string;
  certificate: string;
  ca: string;
}

/** Why `caller` may not open `port` of `service` here, or null when it may. */
export type MeshAuthorizer = (caller: string, service: string, port: number) => string | null;

export interface MeshServer {
  readonly port: number;
  /** Takes a renewed certificate: new handshakes use it, open connections are left be. */
  setCredentials(c: MeshCredentials): void;
  /** Connections open now, handshaking or served. */
  connections(): number;
  close(): Promise<void>;
}

export async function listenMesh(opts: {
  port: number;
  host?: string;
  credentials: MeshCredentials | undefined;
  authorize: MeshAuthorizer;
  log: Logger;
  handshakeTimeoutMs?: number;
}): Promise<MeshServer> {
  const context = (c: MeshCredentials) => ({ key: c.keyPem, cert: c.certificate, ca: [c.ca] });
  // Every connection, from accept on: a half-open one that never finished its handshake is one too.
  const open = new Set<Socket>();
  const server: Server = createServer(
    {
      ...(opts.credentials ? context(opts.credentials) : {}),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
      // A caller that has sent all it will (a half-close) still gets the answer. Half-open is also what a
      // peer that gave up mid-handshake leaves behind: the handshake timeout ends those.
      allowHalfOpen: true,
      handshakeTimeout: opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
    },
    (socket) => void serve(socket).catch(() => socket.destroy()),
  );
  server.on("connection", (raw: Socket) => {
    // The answer to an ask is one small write: without this, Nagle holds it for the caller's delayed ack.
    raw.setNoDelay(true);
    open.add(raw);
    raw.once("close", () => open.delete(raw));
  });
  server.on("tlsClientError", (error, socket) => {
    opts.log.debug("mesh handshake refused", { from: socket.remoteAddress, error: error.message });
    socket.destroy();
  });

  async function serve(socket: TLSSocket): Promise<void> {
    socket.on("error", () => socket.destroy());
    const caller = nodeIdOfAltName(socket.getPeerX509Certificate()?.subjectAltName);
    const ask = parseAsk(await readLine(socket));
    const why = caller === null ? "the certificate names no node" : ask === null ? "not a mesh request" : opts.authorize(caller, ask.service, ask.port);
    if (why !== null || ask === null) {
      opts.log.debug("mesh connection refused", { from: socket.remoteAddress, caller, ask, why });
      socket.end(`refused: ${why ?? "not a mesh request"}\n`);
      return;
    }
    const target = await dialLocal(ask.port).catch((error: Error) => error);
    if (target instanceof Error) {
      socket.end(`refused: nothing answers on port ${ask.port} here (${target.message})\n`);
      return;
    }
    socket.write("ok\n");
    socket.resume();
    socket.pipe(target);
    target.pipe(socket);
    const close = () => {
      socket.destroy();
      target.destroy();
    };
    target.once("error", close);
    socket.once("close", () => target.end());
    target.once("close", () => socket.end());
    socket.once("error", close);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : opts.port,
    setCredentials: (c) => server.setSecureContext(context(c)),
    connections: () => open.size,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      });
    },
  };
}

function dialLocal(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no connection within ${CONNECT_TIMEOUT_MS} ms`));
    }, CONNECT_TIMEOUT_MS);
    socket.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
  });
}
