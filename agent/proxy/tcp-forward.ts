// A TCP listener that joins each connection it accepts to an upstream socket: bytes both ways, half-closes
// passed on. Closing the listener ends the connections it holds, so nothing it served outlives it.
import { createServer, type AddressInfo, type Socket } from "node:net";

export interface Forwarder {
  readonly host: string | undefined;
  readonly port: number;
  /** Connections being served now. */
  open(): number;
  close(): Promise<void>;
}

export interface ForwardOptions {
  /** The address to listen on; absent: all interfaces. */
  host?: string | undefined;
  port: number;
  /** Whom to serve: a connection from any other address is closed at once. */
  accept?: (remoteAddress: string) => boolean;
  /** The upstream socket for one accepted connection, connected. */
  connect: () => Promise<Socket>;
  /** A connection that could not be served (refused, or no upstream answered). */
  onRefused?: (why: string, remoteAddress: string) => void;
}

/** Listens; rejects when the address cannot be bound (in use, or not this host's). */
export async function listenForward(opts: ForwardOptions): Promise<Forwarder> {
  const clients = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const remote = client.remoteAddress ?? "";
    if (opts.accept && !opts.accept(remote.replace(/^::ffff:/, ""))) {
      opts.onRefused?.("not a client this listener serves", remote);
      client.destroy();
      return;
    }
    clients.add(client);
    client.on("error", () => client.destroy());
    client.once("close", () => clients.delete(client));
    opts.connect().then(
      (upstream) => {
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
        join(client, upstream);
      },
      (error: unknown) => {
        opts.onRefused?.(error instanceof Error ? error.message : String(error), remote);
        client.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: opts.port, ...(opts.host !== undefined ? { host: opts.host } : {}) }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", () => undefined);
  return {
    host: opts.host,
    // The bound port: the one asked for, or the one the kernel chose for port 0.
    port: (server.address() as AddressInfo).port,
    open: () => clients.size,
    close: () =>
      new Promise<void>((done) => {
        for (const c of clients) c.destroy();
        server.close(() => done());
      }),
  };
}

/** Pipes both ways; an error on either side ends both. */
function join(client: Socket, upstream: Socket): void {
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  upstream.on("error", end);
  client.on("error", end);
  client.once("close", () => upstream.destroy());
  upstream.once("close", () => {
    // Anything the upstream sent is flushed before the client's side goes.
    if (!client.writableEnded) client.end();
  });
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
}
