// The Node entry: the same app over an embedded libSQL file (or LIBSQL_URL), migrations on start,
// and a timer running the backstop sweep. `npm start` runs this file.
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { openDatabase } from "../db/client";
import { migrateDatabase } from "../db/migrate";
import { createStore } from "../db/store";
import { ensurePrivateDir, type TightenedWarning } from "../lib/private-files";
import { createControlPlane, type ControlPlane } from "./app";
import { bootstrap } from "./bootstrap";
import { systemClock, type Clock } from "./clock";
import { ConfigError, configFromEnv, type Config } from "./config";
import { createNodeHttpServer, httpTimeouts, loadTls, type NodeHttpServer, type TlsFiles } from "./node-http";
import { loadOrCreateSigningKey } from "./node-keys";
import { earliestWake } from "./wake-timer";
import { checkKeyring, parseKeyring, SECRETS_KEY_ENV } from "./secrets/keyring";
import { createPromClientMetrics } from "./metrics/prom-client-metrics";
import { registerSwaggerUiRoutes } from "./docs";
import { swaggerUiFilesFromDir } from "./docs/node-files";
import { registerUiRoutes } from "./ui";
import { DEFAULT_UI_DIR, uiFilesFromDir } from "./ui/node-files";

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
  tls?: TlsFiles | undefined;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** LEASEHOLD_SECRETS_KEY: the secrets master keys; without them secrets are off (and a store holding some refuses to start). */
  secretsKey?: string | undefined;
  /** The built dashboard served at /ui/ (default: this checkout's web/dist/ui, written by npm run build:web). */
  uiDir?: string;
  /** Where /docs's Swagger UI files are read from, once (default: the installed swagger-ui-dist). */
  swaggerUiDir?: string;
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

/**
 * Starts the control plane. Everything that can be checked without side effects (config, TLS files) is
 * checked before the data dir, database or key is created. The bootstrap admin token is recorded only once
 * the server listens, just before it is handed back to be shown: a start that fails earlier leaves no token
 * that nobody saw, and the next start issues one.
 */
export async function startNodeServer(opts: NodeServerOptions): Promise<NodeServer> {
  const config = opts.config ?? configFromEnv(process.env);
  const clock = opts.clock ?? systemClock;
  const tls = opts.tls ? loadTls(opts.tls) : undefined;
  const secrets = await parseKeyring(opts.secretsKey);
  const warn: TightenedWarning = (message) => (opts.log ? opts.log(message, { level: "warn" }) : console.error(JSON.stringify({ level: "warn", message })));
  // The key lives here even when the database is remote.
  ensurePrivateDir(opts.dataDir, warn);
  const client = await openDatabase({ url: opts.libsqlUrl, authToken: opts.libsqlAuthToken, dataDir: opts.dataDir, warn });
  let server: NodeHttpServer | undefined;
  try {
    await migrateDatabase(client);
    // A wrong or missing secrets key fails the start, never a later read.
    await checkKeyring(client, secrets);
    const store = createStore(client);
    const keys = await loadOrCreateSigningKey(opts.dataDir, warn);
    // prom-client, with Node's process metrics: one registry per server, so two in one process never mix.
    const metrics = createPromClientMetrics({ processMetrics: true });
    const controlPlane = createControlPlane({ store, keys, clock, config, scheduleWake: earliestWake(), secrets, metrics, ...(opts.log ? { log: opts.log } : {}) });
    // Node only: on Workers the static-assets router serves these files, so the Worker bundle stays as it was.
    registerUiRoutes(controlPlane.app, uiFilesFromDir(opts.uiDir ?? DEFAULT_UI_DIR));
    registerSwaggerUiRoutes(controlPlane.app, swaggerUiFilesFromDir(opts.swaggerUiDir));

    const http = createNodeHttpServer(controlPlane.app.fetch, httpTimeouts(config), tls);
    server = http;
    // A fleet reconnecting at once (after a restart, or while a long write holds the event loop) must wait
    // in the accept queue, not have its connections dropped: Node's default backlog is 511.
    await new Promise<void>((ready, fail) => {
      http.once("error", fail);
      http.listen({ port: opts.port ?? 0, host: opts.host ?? "127.0.0.1", backlog: LISTEN_BACKLOG }, () => {
        http.off("error", fail);
        ready();
      });
    });
    const adminToken = await bootstrap(store, keys, clock, config.tokenTtl);
    const { port } = http.address() as AddressInfo;
    const host = opts.host && opts.host !== "0.0.0.0" ? opts.host : "127.0.0.1";
    const url = `${tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;

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
        const closed = new Promise<void>((done) => http.close(() => done()));
        // Long-polling claims would hold the server open for their whole wait.
        http.closeAllConnections();
        await closed;
        await controlPlane.settled();
        client.close();
      },
    };
  } catch (err) {
    if (server?.listening) {
      server.closeAllConnections();
      await new Promise<void>((done) => server?.close(() => done()));
    }
    client.close();
    throw err;
  }
}

/** Server options from the environment, checked in full before anything is created. */
export function nodeServerOptionsFromEnv(env: Record<string, string | undefined>): NodeServerOptions {
  const config = configFromEnv(env);
  const tlsCert = env["LEASEHOLD_TLS_CERT"] || undefined;
  const tlsKey = env["LEASEHOLD_TLS_KEY"] || undefined;
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    const [set, unset] = tlsCert ? ["LEASEHOLD_TLS_CERT", "LEASEHOLD_TLS_KEY"] : ["LEASEHOLD_TLS_KEY", "LEASEHOLD_TLS_CERT"];
    throw new ConfigError(`${set} is set but ${unset} is not: set both to serve HTTPS, or neither to serve plain HTTP`);
  }
  const portText = env["PORT"] || "7400";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65_535) throw new ConfigError(`PORT=${JSON.stringify(portText)}: must be a TCP port number (0-65535)`);
  return {
    dataDir: resolve(env["LEASEHOLD_DATA_DIR"] || ".data"),
    port,
    host: env["HOST"] || "127.0.0.1",
    libsqlUrl: env["LIBSQL_URL"],
    libsqlAuthToken: env["LIBSQL_AUTH_TOKEN"],
    config,
    tls: tlsCert && tlsKey ? { cert: tlsCert, key: tlsKey } : undefined,
    secretsKey: env[SECRETS_KEY_ENV] || undefined,
  };
}

async function main(): Promise<void> {
  const options = nodeServerOptionsFromEnv(process.env);
  const server = await startNodeServer(options);
  console.log(`leasehold control plane listening on ${server.url}`);
  console.log(`  API docs: ${server.url}/docs`);
  console.log(`  Dashboard: ${server.url}/ui/`);
  if (server.adminToken) {
    console.log("\nAdmin token (shown once; keep it safe):\n");
    console.log(`  export LEASEHOLD_ADDR=${server.url}`);
    console.log(`  export LEASEHOLD_TOKEN=${server.adminToken}\n`);
  } else {
    console.log(`  The admin token was shown by the first start. To mint another: leasehold token create --admin --data-dir ${options.dataDir}`);
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
