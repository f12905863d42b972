// Control-plane configuration, parsed once with zod for the Worker and for Node alike.
import { z } from "zod";
import { duration } from "../api/duration";

/** Shorter scrape tokens are refused: anyone holding one reads the fleet's figures. */
export const MIN_METRICS_TOKEN_LENGTH = 32;
/** It travels as a bearer credential, so it is made of the characters one may hold (see bearerToken). */
const METRICS_TOKEN_PATTERN = new RegExp(`^[A-Za-z0-9._~+/=-]{${MIN_METRICS_TOKEN_LENGTH},}$`);

export const configSchema = z.object({
  /** Base heartbeat interval; scaled up with fleet size. */
  heartbeatInterval: duration({ min: 100 }).prefault("5s"),
  /** Lease TTL at the base interval: a lease lapses after this long without a heartbeat. */
  leaseTtl: duration({ min: 300 }).prefault("15s"),
  /** Fleet-wide heartbeat budget: interval = max(base, nodes / this), as in Nomad. */
  maxHeartbeatsPerSecond: z.coerce.number().int().min(1).default(2000),
  /** Node credentials live this long and are rotated through heartbeats at half-life. */
  credentialTtl: duration({ min: 60_000 }).prefault("1h"),
  /** Mesh (node TLS) certificates live this long; agents ask for a new one through the heartbeat past half-life. */
  meshCertTtl: duration({ min: 10_000 }).prefault("24h"),
  /** A signed lease grant is valid this long; renewals extend the stored expiry, re-signing only near the end. */
  leaseGrantTtl: duration({ min: 60_000 }).prefault("1h"),
  /** Operator tokens issued by the API default to this lifetime. */
  tokenTtl: duration({ min: 60_000, max: 365 * 24 * 3_600_000 }).prefault("720h"),
  /** Largest request body accepted. */
  bodyLimitBytes: z.coerce.number().int().min(1024).default(1_048_576),
  /** How often the backstop sweep runs on Node (Workers use the cron trigger). */
  sweepInterval: duration({ min: 100 }).prefault("5s"),
  /** Longest a claim may long-poll. */
  maxClaimWait: duration({ max: 60_000 }).prefault("20s"),
  /** How often a followed stream (GET /v1/events?follow=1) reads the store for what is new. */
  streamPollInterval: duration({ min: 100, max: 60_000 }).prefault("1s"),
  /** A followed stream ends after this long and the client resumes it: bounds each request's store reads (Workers count subrequests). */
  streamLifetime: duration({ min: 1_000, max: 3_600_000 }).prefault("5m"),
  /** Node only: the longest a client may take to send one whole request (headers and body); see worker/node.ts. */
  requestTimeout: duration({ min: 500, max: 600_000 }).prefault("30s"),
  /** A bearer token that may read GET /metrics (and nothing else), for a scraper that holds no operator token. */
  metricsToken: z
    .string()
    .trim()
    .regex(METRICS_TOKEN_PATTERN, `must be at least ${MIN_METRICS_TOKEN_LENGTH} characters of A-Z a-z 0-9 . _ ~ + / = - (e.g. openssl rand -base64 32)`)
    .optional(),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export function parseConfig(input: ConfigInput = {}): Config {
  return configSchema.parse(input);
}

const ENV_NAMES: Partial<Record<keyof Config, string>> = {
  heartbeatInterval: "LEASEHOLD_HEARTBEAT_INTERVAL",
  leaseTtl: "LEASEHOLD_LEASE_TTL",
  maxHeartbeatsPerSecond: "LEASEHOLD_MAX_HEARTBEATS_PER_SECOND",
  credentialTtl: "LEASEHOLD_CREDENTIAL_TTL",
  meshCertTtl: "LEASEHOLD_MESH_CERT_TTL",
  tokenTtl: "LEASEHOLD_TOKEN_TTL",
  bodyLimitBytes: "LEASEHOLD_BODY_LIMIT",
  sweepInterval: "LEASEHOLD_SWEEP_INTERVAL",
  requestTimeout: "LEASEHOLD_REQUEST_TIMEOUT",
  streamPollInterval: "LEASEHOLD_STREAM_POLL_INTERVAL",
  streamLifetime: "LEASEHOLD_STREAM_LIFETIME",
  metricsToken: "LEASEHOLD_METRICS_TOKEN",
};

/** Settings whose values are credentials: an error about one never quotes it. */
const SECRET_SETTINGS: ReadonlySet<keyof Config> = new Set(["metricsToken"]);

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Reads LEASEHOLD_* settings from an environment map (process.env or Worker bindings); a bad one throws ConfigError naming it. */
export function configFromEnv(env: Record<string, unknown>): Config {
  const input: Record<string, string> = {};
  for (const [key, name] of Object.entries(ENV_NAMES)) {
    const value = env[name];
    if (typeof value === "string" && value !== "") input[key] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => {
    const key = i.path[0] as keyof Config;
    const value = SECRET_SETTINGS.has(key) ? "(not shown)" : JSON.stringify(input[String(key)]);
    return `${ENV_NAMES[key] ?? i.path.join(".")}=${value}: ${i.message}`;
  });
  throw new ConfigError(`invalid configuration: ${problems.join("; ")}`, { cause: parsed.error });
}
