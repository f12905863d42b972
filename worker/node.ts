// The Node entry: the same app over an embedded libSQL file (or LIBSQL_URL), migrations on start,
// and a timer running the backstop sweep. `npm start` runs this file.
import { readFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createAdaptorServer, type ServerType } from "@hono/node-server";
import { openDatabase } from "../db/client";
import { migrateDatabase } from "../db/migrate";
import { createStore } from "../db/store";
import { ensurePrivateDir, type TightenedWarning } from "../lib/private-files";
import { createControlPlane, type ControlPlane } from "./app";
import { bootstrap } from "./bootstrap";
import { systemClock, type Clock } from "./clock";
import { configFromEnv, type Config } from "./config";
import { loadOrCreateSigningKey } from "./node-keys";

export interface NodeServerOptions {
  dataDir: string;
  port?: number;
  host?: string;
  libsqlUrl?: string | undefined;
  libsqlAuthToken?: string | undefined;
  config?: Config;
  clock?: Clock;
  /** Run the backstop sweep on a timer (default true). */
  sweep?: boolean;
  tls?: { cert: string; key: string } | undefined;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface NodeServer {
  url: string;
  /** Set only on the start that created it: it is shown once. */
  adminToken: string | null;
  controlPlane: ControlPlane;
  close(): Promise<void>;
}

/** Connections the kernel may queue for accepting (capped by net.core.somaxconn). */
const LISTEN_BACKLOG = 4_096;

export async function startNodeServer(opts: NodeServerOptions): Promise<NodeServer> {
  const config = opts.config ?? configFromEnv(process.env);
  const clock = opts.clock ?? systemClock;
  const warn: TightenedWarning = (message) => (opts.log ? opts.log(message, { level: "warn" }) : console.error(JSON.stringify({ level: "warn", message })));
  // The key lives here even when the database is remote.
  ensurePrivateDir(opts.dataDir, warn);
  const client = await openDatabase({ url: opts.libsqlUrl, authToken: opts.libsqlAuthToken, dataDir: opts.dataDir, warn });
  await migrateDatabase(client);
  const store = createStore(client);
  const keys = await loadOrCreateSigningKey(opts.dataDir, warn);
  const adminToken = await bootstrap(store, keys, clock, config.tokenTtl);
  const controlPlane = createControlPlane({ store, keys, clock, config, ...(opts.log ? { log: opts.log } : {}) });

  const server: ServerType = createAdaptorServer({
    fetch: controlPlane.app.fetch,
    ...(opts.tls ? { createServer: createHttpsServer, serverOptions: { cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) } } : {}),
  });
  // A fleet reconnecting at once (after a restart, or while a long write holds the event loop) must wait
  // in the accept queue, not have its connections dropped: Node's default backlog is 511.
  await new Promise<void>((ready) => server.listen({ port: opts.port ?? 0, host: opts.host ?? "127.0.0.1", backlog: LISTEN_BACKLOG }, ready));
  // Agents heartbeat every few seconds over one kept-alive connection each. Node's default (5 s) would close
  // it between heartbeats, so each one would pay a new TCP (and TLS) handshake.
  const keepAliveMs = Math.max(65_000, 3 * config.heartbeatInterval);
  if ("keepAliveTimeout" in server) {
    server.keepAliveTimeout = keepAliveMs;
    server.headersTimeout = keepAliveMs + 1_000;
  }
  const { port } = server.address() as AddressInfo;
  const host = opts.host && opts.host !== "0.0.0.0" ? opts.host : "127.0.0.1";
  const url = `${opts.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;

  let sweepTimer: NodeJS.Timeout | undefined;
  if (opts.sweep !== false) {
    // The evaluator runs one sweep at a time: a tick during a long sweep joins it.
    sweepTimer = setInterval(() => {
      controlPlane.tick().catch((err: unknown) => controlPlane.deps.log("sweep failed", { error: err instanceof Error ? err.message : String(err) }));
    }, config.sweepInterval);
    sweepTimer.unref();
  }

  return {
    url,
    adminToken,
    controlPlane,
    async close() {
      if (sweepTimer) clearInterval(sweepTimer);
      const closed = new Promise<void>((done) => server.close(() => done()));
      // Long-polling claims would hold the server open for their whole wait.
      if ("closeAllConnections" in server) server.closeAllConnections();
      await closed;
      await controlPlane.settled();
      client.close();
    },
  };
}

async function main(): Promise<void> {
  const dataDir = resolve(process.env["LEASEHOLD_DATA_DIR"] ?? ".data");
  const tlsCert = process.env["LEASEHOLD_TLS_CERT"];
  const tlsKey = process.env["LEASEHOLD_TLS_KEY"];
  const server = await startNodeServer({
    dataDir,
    port: Number(process.env["PORT"] ?? 7400),
    host: process.env["HOST"] ?? "127.0.0.1",
    libsqlUrl: process.env["LIBSQL_URL"],
    libsqlAuthToken: process.env["LIBSQL_AUTH_TOKEN"],
    tls: tlsCert && tlsKey ? { cert: tlsCert, key: tlsKey } : undefined,
  });
  console.log(`leasehold control plane listening on ${server.url}`);
  console.log(`  API docs: ${server.url}/docs`);
  if (server.adminToken) {
    console.log("\nAdmin token (shown once; keep it safe):\n");
    console.log(`  export LEASEHOLD_ADDR=${server.url}`);
    console.log(`  export LEASEHOLD_TOKEN=${server.adminToken}\n`);
  }
  const stop = () => void server.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((err: unknown) => {
    console.error(`leasehold: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
