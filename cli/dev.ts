// `npm start`: a one-command local cluster in the spirit of `nomad agent -dev` — the control plane with
// an embedded database, plus one agent on the local Docker engine. It prints the URL and an admin token
// and writes the CLI config, so `leasehold apply examples/web.yaml` works next.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import Dockerode from "dockerode";
import { runAgent, type RunningAgent } from "../agent/run";
import { startNodeServer } from "../worker/node";
import { writeCliConfig } from "./config";

const TOKEN_FILE = "dev-admin-token";
const SECRETS_KEY_FILE = "dev-secrets.key";

/**
 * LEASEHOLD_SECRETS_KEY if set, else a key kept in the dev data dir (made on the first start). Beside the
 * database it protects nothing at rest: it is for trying secrets out. A real server takes the key from its
 * environment (or a Workers secret), away from the database.
 */
function devSecretsKey(dataDir: string): string {
  const fromEnv = process.env["LEASEHOLD_SECRETS_KEY"];
  if (fromEnv) return fromEnv;
  const path = join(dataDir, SECRETS_KEY_FILE);
  if (existsSync(path)) return readFileSync(path, "utf8").trim();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  writeFileSync(path, key, { mode: 0o600 });
  return key;
}

export interface DevCluster {
  url: string;
  adminToken: string;
  agent: RunningAgent | null;
  stop(): Promise<void>;
}

/** Whether a Docker engine answers (DOCKER_HOST or the default socket), and why not. */
async function dockerReachable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    await new Dockerode().ping();
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

export async function startDevCluster(opts: { dataDir: string; port: number; host: string; print: (line: string) => void }): Promise<DevCluster> {
  const server = await startNodeServer({ dataDir: opts.dataDir, port: opts.port, host: opts.host, secretsKey: devSecretsKey(opts.dataDir) });
  // The bootstrap token is shown by the first start only; the dev cluster keeps it so later starts can
  // enroll its agent and point the CLI at it again.
  const tokenPath = join(opts.dataDir, TOKEN_FILE);
  if (server.adminToken) {
    writeFileSync(tokenPath, server.adminToken, { mode: 0o600 });
    chmodSync(tokenPath, 0o600);
  }
  const adminToken = server.adminToken ?? (existsSync(tokenPath) ? readFileSync(tokenPath, "utf8").trim() : "");
  if (!adminToken) throw new Error(`this data directory was initialised elsewhere and has no ${TOKEN_FILE}: use a fresh LEASEHOLD_DATA_DIR`);
  const configPath = writeCliConfig({ addr: server.url, token: adminToken });

  let agent: RunningAgent | null = null;
  const docker = await dockerReachable();
  if (!docker.ok) {
    opts.print(`\nNo Docker engine answers (${process.env["DOCKER_HOST"] ?? "/var/run/docker.sock"}): ${docker.reason}`);
    opts.print("The control plane runs without a local agent. Start dockerd (or set DOCKER_HOST) and restart to run tasks here.");
  } else {
    const res = await fetch(`${server.url}/v1/join-tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ description: "local dev agent", maxUses: 1, ttl: "10m" }),
    });
    if (!res.ok) throw new Error(`could not create a join token for the local agent: HTTP ${res.status}`);
    const { token } = (await res.json()) as { token: string };
    agent = await runAgent({
      server: server.url,
      joinToken: token,
      name: `local-${hostname().replace(/[^A-Za-z0-9._-]/g, "-")}`.slice(0, 63),
      region: "local",
      labels: { dev: "true" },
      dataDir: join(opts.dataDir, "agent"),
      log: () => {},
    });
  }

  opts.print(`\nleasehold is running at ${server.url}  (API docs: ${server.url}/docs)`);
  // npm start builds it first (scripts/web-build.ts --if-stale); the token below signs in.
  opts.print(`dashboard: ${server.url}/ui/`);
  opts.print(agent ? `local agent: ${agent.name} on the local Docker engine` : "local agent: none (no Docker engine)");
  if (server.adminToken) opts.print(`\nAdmin token (shown once):\n  ${adminToken}`);
  opts.print(`\nThe CLI is configured (${configPath}). Try:\n  npx leasehold apply examples/web.yaml --wait\n  npx leasehold status web\n  npx leasehold nodes\n`);
  return {
    url: server.url,
    adminToken,
    agent,
    async stop() {
      await agent?.stop();
      await server.close();
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const cluster = await startDevCluster({
    dataDir: resolve(process.env["LEASEHOLD_DATA_DIR"] ?? ".data"),
    port: Number(process.env["PORT"] ?? 7400),
    host: process.env["HOST"] ?? "127.0.0.1",
    print: (line) => console.log(line),
  }).catch((err: unknown) => {
    console.error(`leasehold: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
  const stop = () => void cluster.stop().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
