// The node's X25519 encryption key pair on disk: task secrets are sealed to its public half at claim time,
// and only this agent can open them. The private JWK (which holds the public `x` too) lives in its own
// owner-only file in the data dir, apart from agent.json, so enrolling again rewrites the identity and
// keeps the key: payloads sealed to it before still open.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { JWK } from "jose";
import { generateNodeKeyPair, nodeEncryptionKeySchema, SEAL_ALG, type NodeEncryptionKey, type NodeKeyPair } from "../api/sealed";
import { ensurePrivateDir, tightenPrivateDir, tightenPrivateFile, writePrivateFile, type TightenedWarning } from "../lib/private-files";

export const NODE_KEY_FILE = "node-key.jwk";

export interface NodeKey extends NodeKeyPair {
  /** The key's thumbprint: what the control plane answers when it registers the key. */
  kid: string;
}

/** The stored key pair, or undefined when there is none yet (an agent that predates node keys). */
export function loadNodeKey(dataDir: string, warn: TightenedWarning): NodeKey | undefined {
  if (!tightenPrivateDir(dataDir, warn)) return undefined;
  const path = join(dataDir, NODE_KEY_FILE);
  if (!tightenPrivateFile(path, warn)) return undefined;
  const privateJwk = JSON.parse(readFileSync(path, "utf8")) as JWK;
  const publicJwk = nodeEncryptionKeySchema.safeParse({ kty: privateJwk.kty, crv: privateJwk.crv, x: privateJwk.x, kid: privateJwk.kid, use: "enc", alg: SEAL_ALG });
  if (!publicJwk.success || typeof privateJwk.d !== "string" || publicJwk.data.kid === undefined) {
    // Never replaced silently: tasks sealed to the key on file would no longer open.
    throw new Error(`${path} does not hold an X25519 private key: move it away to have the agent make a new one (and register it)`);
  }
  return { publicJwk: publicJwk.data, privateJwk, kid: publicJwk.data.kid };
}

/** The stored key pair, made and written (0600) first if there is none. `created` says which. */
export async function loadOrCreateNodeKey(dataDir: string, warn: TightenedWarning): Promise<{ key: NodeKey; created: boolean }> {
  const existing = loadNodeKey(dataDir, warn);
  if (existing) return { key: existing, created: false };
  ensurePrivateDir(dataDir, warn);
  const pair = await generateNodeKeyPair();
  try {
    // Exclusive: a second agent started on this data dir at the same moment keeps the first one's key.
    writePrivateFile(join(dataDir, NODE_KEY_FILE), JSON.stringify(pair.privateJwk), { exclusive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const theirs = loadNodeKey(dataDir, warn);
    if (theirs) return { key: theirs, created: false };
    throw err;
  }
  return { key: { ...pair, kid: kidOf(pair.publicJwk) }, created: true };
}

function kidOf(key: NodeEncryptionKey): string {
  if (key.kid === undefined) throw new Error("a generated node key has no kid");
  return key.kid;
}
