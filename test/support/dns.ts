// DNS test helpers: ask a server over real UDP or TCP sockets, and a stand-in upstream resolver, all
// with dns-packet so the server under test is read by a codec it does not share code with.
import { createSocket } from "node:dgram";
import type { Socket as UdpSocket } from "node:dgram";
import { connect, createServer } from "node:net";
import type { Server } from "node:net";
import * as packet from "dns-packet";
import type { Answer, DecodedPacket, Packet, Question, RecordType } from "dns-packet";
import type { Endpoint } from "../../api/services";

export type Rcode = "NOERROR" | "FORMERR" | "SERVFAIL" | "NXDOMAIN" | "NOTIMP" | "REFUSED";
const RCODE_NAMES: Rcode[] = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"];

export function rcodeOf(response: Packet): Rcode | number {
  const code = (response.flags ?? 0) & 0xf;
  return RCODE_NAMES[code] ?? code;
}

export function query(name: string, type: RecordType, extra: Partial<Packet> = {}): Packet {
  return { type: "query", id: Math.floor(Math.random() * 65_536), flags: packet.RECURSION_DESIRED, questions: [{ name, type }], ...extra };
}

/** A UDP client socket that collects every datagram it receives. */
export async function udpClient(): Promise<{ socket: UdpSocket; received: Buffer[]; close(): void }> {
  const socket = createSocket("udp4");
  const received: Buffer[] = [];
  socket.on("message", (message) => received.push(message));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  return { socket, received, close: () => socket.close() };
}

/** Sends `request` over UDP to `port` and decodes the reply with its id; throws when none comes within `timeoutMs`. */
export async function askUdp(port: number, request: Packet | Buffer, timeoutMs = 3_000, address = "127.0.0.1"): Promise<DecodedPacket> {
  const client = await udpClient();
  try {
    return await sendAndWait(client.socket, port, address, request, timeoutMs);
  } finally {
    client.close();
  }
}

export function sendAndWait(socket: UdpSocket, port: number, address: string, request: Packet | Buffer, timeoutMs = 3_000): Promise<DecodedPacket> {
  const bytes = Buffer.isBuffer(request) ? request : packet.encode(request);
  const id = bytes.readUInt16BE(0);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off("message", onMessage);
      reject(new Error(`no UDP reply from ${address}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    function onMessage(message: Buffer): void {
      const decoded = packet.decode(message);
      if (decoded.id !== id) return;
      clearTimeout(timer);
      socket.off("message", onMessage);
      resolve(decoded);
    }
    socket.on("message", onMessage);
    socket.send(bytes, port, address);
  });
}

/** Sends `request` over TCP (length-prefixed) and decodes the one reply. */
export function askTcp(port: number, request: Packet, timeoutMs = 3_000, address = "127.0.0.1"): Promise<DecodedPacket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port });
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TCP reply from ${address}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("data", (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(packet.streamDecode(data) as DecodedPacket);
      }
    });
    socket.on("connect", () => socket.write(packet.streamEncode(request)));
  });
}

export type StandIn = {
  port: number;
  /** The questions it was asked, over either transport. */
  asked: Question[];
  close(): Promise<void>;
};

/**
 * An upstream resolver on 127.0.0.1 that answers every A question with `address`, over UDP and TCP on one
 * port.
 */
export async function startStandInResolver(address = "192.0.2.7"): Promise<StandIn> {
  const asked: Question[] = [];
  const answer = (bytes: Buffer): Buffer => {
    const q = packet.decode(bytes);
    const questions = q.questions ?? [];
    asked.push(...questions);
    const answers: Answer[] = questions.filter((x) => x.type === "A").map((x) => ({ type: "A", name: x.name, ttl: 60, data: address }));
    return packet.encode({ type: "response", id: q.id ?? 0, flags: (q.flags ?? 0) | packet.RECURSION_AVAILABLE, questions, answers });
  };
  const udp = createSocket("udp4");
  udp.on("message", (message, peer) => udp.send(answer(message), peer.port, peer.address));
  await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", () => resolve()));
  const port = udp.address().port;
  const tcp: Server = createServer((socket) => {
    let data = Buffer.alloc(0);
    socket.on("data", (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        const reply = answer(data.subarray(2, 2 + data.readUInt16BE(0)));
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(reply.length);
        socket.end(Buffer.concat([prefix, reply]));
      }
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    port,
    asked,
    close: async () => {
      await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
    },
  };
}

/** An endpoint of job "web" on `nodeId`, healthy unless told otherwise. */
export function testEndpoint(taskId: string, overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    taskId,
    jobId: "web",
    slot: 0,
    version: 1,
    nodeId: "n1",
    nodeName: "n1",
    region: "r1",
    addresses: [],
    meshPort: null,
    port: 30_000,
    tags: [],
    healthy: true,
    ...overrides,
  };
}
