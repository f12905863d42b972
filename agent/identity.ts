// The agent's identity on disk: node id, credential and the control plane's pinned public keys.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JWK } from "jose";

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
}

const FILE = "agent.json";

export function loadIdentity(dataDir: string): AgentIdentity | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, FILE), "utf8")) as AgentIdentity;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Written atomically (temp file + rename) with owner-only permissions: it holds a credential. */
export function saveIdentity(dataDir: string, identity: AgentIdentity): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tmp = join(dataDir, `${FILE}.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(identity, null, 2), { mode: 0o600 });
  renameSync(tmp, join(dataDir, FILE));
}
