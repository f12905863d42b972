// The agent's identity on disk: node id, credential and the control plane's pinned public keys. The node's
// encryption key pair has its own file (node-key.ts).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { JWK } from "jose";
import { ensurePrivateDir, tightenPrivateDir, tightenPrivateFile, writePrivateFile, type TightenedWarning } from "../lib/private-files";

export interface AgentIdentity {
  server: string;
  name: string;
  nodeId: string;
  credential: string;
  /** The control plane's public keys, pinned at enrollment: every lease must verify against them. */
  jwks: { keys: JWK[] };
  /** The cluster id the control plane gave at enrollment: the ownership label on this node's containers. */
  clusterId?: string;
  /** The region the node was enrolled in. */
  region?: string;
  /**
   * The kid of the node encryption key (node-key.ts) the control plane holds for this node: sent at
   * enrollment or registered since. Absent (an identity from before node keys) or another: register it.
   */
  encryptionKeyId?: string;
}

const FILE = "agent.json";

/** Where state-file warnings go when the caller passes no logger: a JSON line on stderr, as the agent logs. */
export const warnOnStderr: TightenedWarning = (message) => console.error(JSON.stringify({ at: new Date().toISOString(), level: "warn", message }));

/** Reads the stored identity. The state dir and the file are tightened first if others could read them. */
export function loadIdentity(dataDir: string, warn: TightenedWarning = warnOnStderr): AgentIdentity | undefined {
  if (!tightenPrivateDir(dataDir, warn)) return undefined;
  const path = join(dataDir, FILE);
  try {
    tightenPrivateFile(path, warn);
    return JSON.parse(readFileSync(path, "utf8")) as AgentIdentity;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Written atomically (temp file + rename) with owner-only permissions: it holds a credential. */
export function saveIdentity(dataDir: string, identity: AgentIdentity, warn: TightenedWarning = warnOnStderr): void {
  ensurePrivateDir(dataDir, warn);
  writePrivateFile(join(dataDir, FILE), JSON.stringify(identity, null, 2));
}
