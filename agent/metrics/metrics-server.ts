// Serves GET /metrics (Prometheus text exposition) from one agent's registry, on the address it is given.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { errorText, type Logger } from "../log";

export type ListenAddress = { host: string; port: number };

/** "HOST:PORT", the host an IPv4 address, a name, or an IPv6 address in brackets ("[::1]:7702"). */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`a metrics address is HOST:PORT (an IPv6 host in brackets), not ${JSON.stringify(text)}`);
  return { host: m[1] ?? m[2]!, port };
}

export interface MetricsServer {
  /** The port listening (the one asked for, or the one picked for port 0). */
  port: number;
  close(): Promise<void>;
}

/**
 * Listens on `address`. A port that cannot be had (taken, a host not on this machine) is logged as an error
 * and undefined returned: the agent runs on without metrics rather than not at all.
 */
export async function listenMetrics(opts: { address: ListenAddress; registry: Registry; log: Logger }): Promise<MetricsServer | undefined> {
  const { registry, log } = opts;
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: metrics are at /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("only GET and HEAD\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(req.method === "HEAD" ? undefined : text),
      (err: unknown) => {
        log.warn("could not collect metrics", { error: errorText(err) });
        res.writeHead(500, { "content-type": "text/plain" }).end("could not collect metrics\n");
      },
    );
  });
  try {
    await new Promise<void>((done, fail) => {
      server.once("error", fail);
      server.listen(opts.address.port, opts.address.host, () => {
        server.off("error", fail);
        done();
      });
    });
  } catch (err) {
    log.error("cannot open the metrics port: running on without metrics", { address: `${opts.address.host}:${opts.address.port}`, error: errorText(err) });
    return undefined;
  }
  const port = (server.address() as AddressInfo).port;
  log.info("serving metrics", { url: `http://${opts.address.host.includes(":") ? `[${opts.address.host}]` : opts.address.host}:${port}/metrics` });
  return {
    port,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
