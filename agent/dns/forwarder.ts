// Sends queries for names outside .leasehold to the host's resolver and brings its reply back as is.
// Each exchange has its own socket, so replies cannot be crossed between askers who chose the same id.
import { readFile } from "node:fs/promises";
import { createSocket } from "node:dgram";
import { connect, isIPv6 } from "node:net";
import { createFrameReader, frame } from "./tcp-frames";

export type Nameserver = { address: string; port: number };

export const RESOLV_CONF = "/etc/resolv.conf";

/** The first nameserver in resolv.conf text, or null if it names none. */
export function parseResolvConf(text: string): Nameserver | null {
  for (const line of text.split("\n")) {
    const [keyword, address] = line.trim().split(/\s+/);
    if (keyword === "nameserver" && address) return { address, port: 53 };
  }
  return null;
}

/** Read on every call, so a resolver the host changes (DHCP, a VPN) is followed without a restart. */
export async function readNameserver(path = RESOLV_CONF): Promise<Nameserver | null> {
  try {
    return parseResolvConf(await readFile(path, "utf8"));
  } catch {
    return null;
  }
}

/** Settles an exchange once: with the first reply, or null after `timeoutMs`; `close` runs first, once. */
function settleOnce(timeoutMs: number, resolve: (reply: Buffer | null) => void, close: () => void): (reply: Buffer | null) => void {
  let settled = false;
  const timer = setTimeout(() => done(null), timeoutMs);
  function done(reply: Buffer | null): void {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    close();
    resolve(reply);
  }
  return done;
}

/** The nameserver's UDP reply to `query`, or null if none came within `timeoutMs` or it refused the port. */
export function exchangeUdp(server: Nameserver, query: Buffer, timeoutMs: number): Promise<Buffer | null> {
  const id = query.readUInt16BE(0);
  return new Promise((resolve) => {
    const socket = createSocket(isIPv6(server.address.replace(/%.*$/, "")) ? "udp6" : "udp4");
    const done = settleOnce(timeoutMs, resolve, () => {
      socket.removeAllListeners("message");
      socket.on("error", () => {});
      try {
        socket.close();
      } catch {
        // already closed
      }
    });
    // A connected socket takes datagrams from the nameserver only, and learns of a refused port.
    socket.on("error", () => done(null));
    socket.on("message", (message) => {
      if (message.length >= 12 && message.readUInt16BE(0) === id && (message[2] ?? 0) & 0x80) done(message);
    });
    socket.connect(server.port, server.address, () => socket.send(query, (error) => error && done(null)));
  });
}

/** The nameserver's TCP reply to `query`, or null if it did not give one within `timeoutMs`. */
export function exchangeTcp(server: Nameserver, query: Buffer, timeoutMs: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: server.address, port: server.port });
    const done = settleOnce(timeoutMs, resolve, () => socket.destroy());
    socket.on("error", () => done(null));
    socket.on("close", () => done(null));
    socket.on("data", createFrameReader((message) => done(message)));
    socket.on("connect", () => socket.write(frame(query)));
  });
}
