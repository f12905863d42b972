// The Cloudflare Workers entry: the same app over libSQL via HTTP (Turso/sqld), and the cron backstop.
import type { ExportedHandler, Request as WorkerRequest, Response as WorkerResponse } from "@cloudflare/workers-types";
import { createClient, type Client } from "@libsql/client/web";
import type { JWK } from "jose";
import { createStore } from "../db/store";
import { createControlPlane, type ControlPlane } from "./app";
import { signingKeysFromJwk } from "./auth/keys";
import { systemClock } from "./clock";
import { configFromEnv } from "./config";
import { checkKeyring, parseKeyring, SecretsKeyError, type Keyring } from "./secrets/keyring";
import { BOOTSTRAP_SECRET_PATTERN, MIN_BOOTSTRAP_SECRET_LENGTH } from "./routes/bootstrap";
import { createMetricsRegistry } from "./metrics";

export interface Env {
  LIBSQL_URL: string;
  LIBSQL_AUTH_TOKEN?: string;
  /** Private Ed25519 JWK (JSON), set with `wrangler secret put LEASEHOLD_SIGNING_KEY`. */
  LEASEHOLD_SIGNING_KEY: string;
  /** The secrets master keys (base64, comma-separated, the first encrypting), set with `wrangler secret put LEASEHOLD_SECRETS_KEY`. */
  LEASEHOLD_SECRETS_KEY?: string;
  /** Authorises the one POST /v1/bootstrap that issues the first admin token; delete it afterwards. */
  LEASEHOLD_BOOTSTRAP_SECRET?: string;
  /** Lets a scraper read GET /metrics without an operator token (see docs/metrics.md). */
  LEASEHOLD_METRICS_TOKEN?: string;
  [setting: string]: unknown;
}

/**
 * The isolate's counters and histograms. The one thing kept across requests on purpose: the control plane is
 * built per request, and counters that began at zero with each one would count nothing. They hold no
 * setting and no state another instance needs: each isolate counts what it served, and /metrics says so.
 */
const isolateMetrics = createMetricsRegistry();

/** Built per request: isolates keep module globals alive, and nothing here may outlive its Env. */
async function controlPlaneFor(env: Env): Promise<ControlPlane> {
  if (!env.LIBSQL_URL) throw new Error("LIBSQL_URL is not set");
  if (!env.LEASEHOLD_SIGNING_KEY) throw new Error("LEASEHOLD_SIGNING_KEY is not set");
  const client = createClient({ url: env.LIBSQL_URL, ...(env.LIBSQL_AUTH_TOKEN ? { authToken: env.LIBSQL_AUTH_TOKEN } : {}) });
  // A secret pasted with its line break still matches: bearer credentials never hold whitespace.
  const bootstrapSecret = env.LEASEHOLD_BOOTSTRAP_SECRET?.trim() || undefined;
  if (bootstrapSecret !== undefined && !BOOTSTRAP_SECRET_PATTERN.test(bootstrapSecret)) {
    throw new Error(`LEASEHOLD_BOOTSTRAP_SECRET must be at least ${MIN_BOOTSTRAP_SECRET_LENGTH} characters of A-Z a-z 0-9 . _ ~ + / = - (e.g. openssl rand -base64 32)`);
  }
  const keys = await signingKeysFromJwk(JSON.parse(env.LEASEHOLD_SIGNING_KEY) as JWK);
  const secrets = await parseKeyring(typeof env.LEASEHOLD_SECRETS_KEY === "string" ? env.LEASEHOLD_SECRETS_KEY : undefined);
  await keyringChecked(client, env, secrets);
  return createControlPlane({ store: createStore(client), keys, clock: systemClock, config: configFromEnv(env), bootstrapSecret, secrets, metrics: isolateMetrics });
}

/**
 * The secrets key is checked against the store once per isolate and setting (an isolate's first request is
 * its start): a wrong key answers every request with the misconfiguration problem, never a later read.
 */
const checkedKeyrings = new Map<string, Promise<void>>();
function keyringChecked(client: Client, env: Env, secrets: Keyring): Promise<void> {
  const id = `${env.LIBSQL_URL}\u0000${[...secrets.byId.keys()].join(",")}`;
  let check = checkedKeyrings.get(id);
  if (!check) {
    // A store that could not be read is not a wrong key: the request goes on (a route that needs the store
    // fails on its own, and one that does not, like /docs, still answers), and the next request checks again.
    check = checkKeyring(client, secrets).catch((err: unknown) => {
      if (err instanceof SecretsKeyError) throw err;
      checkedKeyrings.delete(id);
    });
    checkedKeyrings.set(id, check);
  }
  return check;
}

export default {
  async fetch(request: WorkerRequest, env, ctx) {
    let controlPlane: ControlPlane;
    try {
      controlPlane = await controlPlaneFor(env);
    } catch (err) {
      // The cause stays in the log: a parse error of a secret may quote part of it.
      console.error(JSON.stringify({ level: "error", message: "control plane misconfigured", cause: err instanceof Error ? err.message : "unknown error" }));
      const detail = "the control plane is misconfigured; its log names the setting";
      const problem = { type: "urn:leasehold:problem:misconfigured", title: "Misconfigured", status: 500, detail };
      // Answered before the app exists, so without its security headers middleware: the same ones, by hand.
      const headers = {
        "content-type": "application/problem+json",
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
      };
      return new Response(JSON.stringify(problem), { status: 500, headers }) as unknown as WorkerResponse;
    }
    const { app } = controlPlane;
    // The same objects at run time; the type packages for Workers and for the web platform differ.
    const response = await app.fetch(request as unknown as Request, env, ctx);
    return response as unknown as WorkerResponse;
  },
  async scheduled(_controller, env, ctx) {
    const controlPlane = await controlPlaneFor(env);
    ctx.waitUntil(controlPlane.tick());
  },
} satisfies ExportedHandler<Env>;
