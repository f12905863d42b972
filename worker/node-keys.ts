// The signing key on Node: generated into the data directory on first start, read on later ones.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JWK } from "jose";
import { generateSigningKey, signingKeysFromJwk, type SigningKeys } from "./auth/keys";

export const KEY_FILE = "signing-key.jwk";

export async function loadOrCreateSigningKey(dataDir: string): Promise<SigningKeys> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, KEY_FILE);
  try {
    return await signingKeysFromJwk(JSON.parse(readFileSync(path, "utf8")) as JWK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const { privateJwk } = await generateSigningKey();
  try {
    // "wx": if another process created it first, use theirs so every instance signs with one key.
    writeFileSync(path, JSON.stringify(privateJwk), { flag: "wx", mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  return signingKeysFromJwk(JSON.parse(readFileSync(path, "utf8")) as JWK);
}
