// The signing key on Node: generated into the data directory on first start, read on later ones.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { JWK } from "jose";
import { ensurePrivateDir, tightenPrivateFile, writePrivateFile, type TightenedWarning } from "../lib/private-files";
import { generateSigningKey, signingKeysFromJwk, type SigningKeys } from "./auth/keys";

export const KEY_FILE = "signing-key.jwk";

export async function loadOrCreateSigningKey(dataDir: string, warn: TightenedWarning): Promise<SigningKeys> {
  ensurePrivateDir(dataDir, warn);
  const path = join(dataDir, KEY_FILE);
  const existing = await loadSigningKey(dataDir, warn);
  if (existing) return existing;
  const { privateJwk } = await generateSigningKey();
  try {
    // Exclusive: if another process created it first, use theirs so every instance signs with one key.
    writePrivateFile(path, JSON.stringify(privateJwk), { exclusive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  return signingKeysFromJwk(JSON.parse(readFileSync(path, "utf8")) as JWK);
}

/** The data dir's key, or null if it has none yet (tooling that must not create one). */
export async function loadSigningKey(dataDir: string, warn: TightenedWarning): Promise<SigningKeys | null> {
  const path = join(dataDir, KEY_FILE);
  if (!tightenPrivateFile(path, warn)) return null;
  return signingKeysFromJwk(JSON.parse(readFileSync(path, "utf8")) as JWK);
}
