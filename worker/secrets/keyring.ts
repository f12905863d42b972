// The secrets master keys: AES-256-GCM through WebCrypto (Node and Workers alike). LEASEHOLD_SECRETS_KEY
// holds one or more base64 keys, comma-separated: the first encrypts new values, the others only decrypt
// what they encrypted, until `leasehold secret rekey` has moved every value to the first. Each key is
// named by an id derived from it, recorded beside every ciphertext: a wrong key has another id, so it is
// found at start (checkKeyring), never at the first read.
import type { Client } from "@libsql/client";
import { base64ToBytes, bytesToBase64 } from "./base64";

export const SECRETS_KEY_ENV = "LEASEHOLD_SECRETS_KEY";
const KEY_BYTES = 32;

export interface MasterKey {
  id: string;
  key: CryptoKey;
}

export interface Keyring {
  /** Encrypts new values; null when no key is configured (secrets are off). */
  active: MasterKey | null;
  byId: ReadonlyMap<string, MasterKey>;
}

export class SecretsKeyError extends Error {
  override name = "SecretsKeyError";
}

export const EMPTY_KEYRING: Keyring = { active: null, byId: new Map() };

/** What the value names when it is a secret (coordinates only; the associated data of its ciphertext). */
export interface SecretCoordinates {
  namespace: string;
  name: string;
  version: number;
}

async function keyIdOf(raw: Uint8Array): Promise<string> {
  const label = new TextEncoder().encode("leasehold secrets key id\u0000");
  const input = new Uint8Array(label.length + raw.length);
  input.set(label);
  input.set(raw, label.length);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
  return `k${bytesToBase64(digest.subarray(0, 9)).replace(/\+/g, "-").replace(/\//g, "_")}`;
}

/** Parses the setting; a malformed key throws SecretsKeyError naming its position, never quoting it. */
export async function parseKeyring(setting: string | undefined): Promise<Keyring> {
  const parts = (setting ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (parts.length === 0) return EMPTY_KEYRING;
  const keys: MasterKey[] = [];
  for (const [i, part] of parts.entries()) {
    let raw: Uint8Array<ArrayBuffer>;
    try {
      raw = base64ToBytes(part);
    } catch {
      raw = new Uint8Array(0);
    }
    if (raw.length !== KEY_BYTES) {
      throw new SecretsKeyError(`${SECRETS_KEY_ENV}: key ${i + 1} of ${parts.length} is not ${KEY_BYTES} bytes of base64 (make one with: openssl rand -base64 32)`);
    }
    const key = await crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
    keys.push({ id: await keyIdOf(raw), key });
  }
  return { active: keys[0]!, byId: new Map(keys.map((k) => [k.id, k])) };
}

const aad = (c: SecretCoordinates) => new TextEncoder().encode(`leasehold secret\u0000${c.namespace}\u0000${c.name}\u0000${c.version}`);

export interface Sealed {
  ciphertext: string;
  iv: string;
  keyId: string;
}

export async function encryptValue(ring: Keyring, at: SecretCoordinates, value: Uint8Array<ArrayBuffer>): Promise<Sealed> {
  if (!ring.active) throw new SecretsKeyError(`secrets are off: ${SECRETS_KEY_ENV} is not set`);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad(at) }, ring.active.key, value));
  return { ciphertext: bytesToBase64(ciphertext), iv: bytesToBase64(iv), keyId: ring.active.id };
}

export async function decryptValue(ring: Keyring, at: SecretCoordinates, sealed: Sealed): Promise<Uint8Array<ArrayBuffer>> {
  const key = ring.byId.get(sealed.keyId);
  if (!key) throw new SecretsKeyError(`secret ${at.namespace}/${at.name} version ${at.version} is encrypted under key ${sealed.keyId}, which ${SECRETS_KEY_ENV} does not hold`);
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: base64ToBytes(sealed.iv), additionalData: aad(at) }, key.key, base64ToBytes(sealed.ciphertext)));
  } catch {
    throw new SecretsKeyError(`secret ${at.namespace}/${at.name} version ${at.version} does not decrypt under key ${sealed.keyId}: the stored value was altered or moved`);
  }
}

/**
 * Checked at start: every stored value is under a key the ring holds, and one value per key decrypts.
 * Throws SecretsKeyError saying which keys are missing and how many values each holds.
 */
export async function checkKeyring(client: Client, ring: Keyring): Promise<void> {
  const rows = await client.execute(
    "SELECT key_id, count(*) AS n, min(namespace) AS namespace, min(name) AS name FROM secrets GROUP BY key_id",
  );
  const missing = rows.rows.filter((r) => !ring.byId.has(String(r["key_id"])));
  if (missing.length > 0) {
    const held = ring.active ? `it holds ${[...ring.byId.keys()].join(", ")}` : "it is not set";
    const list = missing.map((r) => `${String(r["key_id"]) || "(none)"} (${Number(r["n"])} values)`).join(", ");
    throw new SecretsKeyError(`stored secrets are encrypted under ${list}, which ${SECRETS_KEY_ENV} does not hold (${held}): start with the key they were written under`);
  }
  for (const r of rows.rows) {
    const sample = await client.execute({
      sql: "SELECT namespace, name, version, ciphertext, iv, key_id FROM secrets WHERE key_id = ? LIMIT 1",
      args: [String(r["key_id"])],
    });
    const s = sample.rows[0];
    if (!s) continue;
    await decryptValue(ring, { namespace: String(s["namespace"]), name: String(s["name"]), version: Number(s["version"]) }, { ciphertext: String(s["ciphertext"]), iv: String(s["iv"]), keyId: String(s["key_id"]) });
  }
}
