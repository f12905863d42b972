// The Node HTTP(S) server around the app: TLS files checked before anything starts, HSTS when serving TLS,
// and timeouts chosen for agents (kept-alive connections, long-polled claims) and against slow clients.
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { createSecureContext } from "node:tls";
import { getRequestListener } from "@hono/node-server";
import type { Config } from "./config";

export type NodeHttpServer = HttpServer | HttpsServer;
type Fetch = Parameters<typeof getRequestListener>[0];

export interface TlsFiles {
  cert: string;
  key: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/** Sent on every response over TLS (never over plain HTTP, where it means nothing and would be a lie). */
export const HSTS = "max-age=31536000";

/** Reads the certificate and key and checks that they parse and belong together, so a bad pair fails before anything is created. */
export function loadTls(files: TlsFiles): TlsMaterial {
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (cause) {
      throw new Error(`cannot read the TLS ${what} ${path}: ${(cause as Error).message}`, { cause });
    }
  };
  const tls = { cert: read("certificate", files.cert), key: read("key", files.key) };
  try {
    createSecureContext(tls);
  } catch (cause) {
    throw new Error(`the TLS certificate ${files.cert} and key ${files.key} are not a usable pair: ${(cause as Error).message}`, { cause });
  }
  return tls;
}

export interface HttpTimeouts {
  requestTimeout: number;
  headersTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
}

/** A request's headers must arrive this soon after its first byte (Node's default is 60 s). */
const HEADERS_TIMEOUT_MS = 10_000;

/**
 * - requestTimeout bounds how long a client takes to send one whole request, headers and body (Node's
 *   default, 300 s, let a client hold a connection and its parser with an unfinished chunked body). Node
 *   stops counting once the request has arrived, so a claim that long-polls (up to maxClaimWait, at most
 *   60 s, after its few bytes of body) is not cut by it, however long it waits. 30 s by default: the
 *   largest body the API accepts (1 MiB) at about 35 kB/s.
 * - headersTimeout counts from a request's first byte, not from the end of the previous one, so an idle
 *   kept-alive connection is not charged with it.
 * - keepAliveTimeout: agents heartbeat every few seconds over one kept-alive connection each. Node's default
 *   (5 s) would close it between heartbeats, so each one would pay a new TCP (and TLS) handshake.
 * - Node looks for requests past the first two only every connectionsCheckingInterval (default 30 s, which
 *   would let a slow client outstay the bound by as much again).
 */
export function httpTimeouts(config: Pick<Config, "requestTimeout" | "heartbeatInterval">): HttpTimeouts {
  const headersTimeout = Math.min(HEADERS_TIMEOUT_MS, config.requestTimeout);
  return {
    requestTimeout: config.requestTimeout,
    headersTimeout,
    keepAliveTimeout: Math.max(65_000, 3 * config.heartbeatInterval),
    connectionsCheckingInterval: Math.min(1_000, Math.ceil(headersTimeout / 4)),
  };
}

export function createNodeHttpServer(fetch: Fetch, timeouts: HttpTimeouts, tls?: TlsMaterial): NodeHttpServer {
  const listener = getRequestListener(fetch);
  const { requestTimeout, headersTimeout, connectionsCheckingInterval } = timeouts;
  const server = tls
    ? createHttpsServer({ ...tls, requestTimeout, headersTimeout, connectionsCheckingInterval, handshakeTimeout: headersTimeout }, (req, res) => {
        // Set before the app's response: the adapter's writeHead merges it in, error responses included.
        res.setHeader("strict-transport-security", HSTS);
        void listener(req, res);
      })
    : createHttpServer({ requestTimeout, headersTimeout, connectionsCheckingInterval }, listener);
  server.keepAliveTimeout = timeouts.keepAliveTimeout;
  return server;
}
