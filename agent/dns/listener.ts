// One listening address: a UDP socket and a TCP server on the same port, each message handed to the
// responder. Nothing a client sends can stop it: failures are caught per message, socket errors logged.
import { createSocket } from "node:dgram";
import type { Socket as UdpSocket } from "node:dgram";
import { createServer, isIPv6 } from "node:net";
import type { Server, Socket } from "node:net";
import { errorText } from "../log";
import type { Logger } from "../log";
import type { Responder, Transport } from "./respond";
import { createFrameReader, frame } from "./tcp-frames";

export type Listener = { address: string; port: number; close(): Promise<void> };

/** A TCP client idle this long is disconnected (RFC 7766 suggests seconds). */
const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 64;
/** Tries to find a port free for both UDP and TCP when the caller lets the system pick one. */
const EPHEMERAL_TRIES = 8;

export async function openListener(address: string, port: number, respond: Responder, log: Logger): Promise<Listener> {
  for (let attempt = 1; ; attempt++) {
    const udp = await bindUdp(address, port);
    const bound = udp.address().port;
    try {
      const tcp = await listenTcp(address, bound);
      return serve(address, bound, udp, tcp, respond, log);
    } catch (error) {
      udp.close();
      const inUse = (error as NodeJS.ErrnoException).code === "EADDRINUSE";
      if (port !== 0 || !inUse || attempt >= EPHEMERAL_TRIES) throw error;
    }
  }
}

function serve(address: string, port: number, udp: UdpSocket, tcp: Server, respond: Responder, log: Logger): Listener {
  const connections = new Set<Socket>();

  udp.on("error", (error) => log.warn("dns: UDP socket error", { address, error: errorText(error) }));

  /** Answers one message; whatever goes wrong stays with that message. */
  async function answer(message: Buffer, transport: Transport, send: (out: Buffer) => void): Promise<void> {
    try {
      const out = await respond(message, address, transport);
      if (out !== null) send(out);
    } catch (error) {
      log.warn("dns: a query failed", { address, transport, error: errorText(error) });
    }
  }

  udp.on("message", (message, peer) => {
    void answer(message, "udp", (out) => udp.send(out, peer.port, peer.address, () => {}));
  });

  tcp.maxConnections = TCP_MAX_CONNECTIONS;
  tcp.on("error", (error) => log.warn("dns: TCP server error", { address, error: errorText(error) }));
  tcp.on("connection", (socket) => {
    connections.add(socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on("close", () => connections.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.on(
      "data",
      createFrameReader((message) => {
        void answer(message, "tcp", (out) => {
          if (socket.writable) socket.write(frame(out));
        });
      }),
    );
  });

  return {
    address,
    port,
    close: async () => {
      for (const socket of connections) socket.destroy();
      await Promise.all([new Promise<void>((resolve) => udp.close(() => resolve())), new Promise<void>((resolve) => tcp.close(() => resolve()))]);
    },
  };
}

function bindUdp(address: string, port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIPv6(address) ? "udp6" : "udp4");
    const fail = (error: Error) => {
      socket.close();
      reject(error);
    };
    socket.once("error", fail);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off("error", fail);
      resolve(socket);
    });
  });
}

function listenTcp(address: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
