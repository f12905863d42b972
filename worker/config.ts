// Control-plane configuration, parsed once with zod for the Worker and for Node alike.
import { z } from "zod";
import { duration } from "../api/duration";

export const configSchema = z.object({
  /** Base heartbeat interval; scaled up with fleet size. */
  heartbeatInterval: duration({ min: 100 }).prefault("5s"),
  /** Lease TTL at the base interval: a lease lapses after this long without a heartbeat. */
  leaseTtl: duration({ min: 300 }).prefault("15s"),
  /** Fleet-wide heartbeat budget: interval = max(base, nodes / this), as in Nomad. */
  maxHeartbeatsPerSecond: z.coerce.number().int().min(1).default(2000),
  /** Node credentials live this long and are rotated through heartbeats at half-life. */
  credentialTtl: duration({ min: 60_000 }).prefault("1h"),
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
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export function parseConfig(input: ConfigInput = {}): Config {
  return configSchema.parse(input);
}

/** Reads LEASEHOLD_* settings from an environment map (process.env or Worker bindings). */
export function configFromEnv(env: Record<string, unknown>): Config {
  const pick = (name: string) => (typeof env[name] === "string" && env[name] !== "" ? (env[name] as string) : undefined);
  const input: Record<string, string | undefined> = {
    heartbeatInterval: pick("LEASEHOLD_HEARTBEAT_INTERVAL"),
    leaseTtl: pick("LEASEHOLD_LEASE_TTL"),
    maxHeartbeatsPerSecond: pick("LEASEHOLD_MAX_HEARTBEATS_PER_SECOND"),
    credentialTtl: pick("LEASEHOLD_CREDENTIAL_TTL"),
    tokenTtl: pick("LEASEHOLD_TOKEN_TTL"),
    bodyLimitBytes: pick("LEASEHOLD_BODY_LIMIT"),
    sweepInterval: pick("LEASEHOLD_SWEEP_INTERVAL"),
  };
  return configSchema.parse(Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)));
}
