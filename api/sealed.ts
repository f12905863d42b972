// Secrets end to end: what the control plane seals to one node at claim time, and how that node opens it.
// The plaintext (secret files, rendered config files, secret env values) is encrypted to the node's X25519
// public key as a compact JWE (ECDH-ES, A256GCM). Only the holder of the node's private key, which never
// leaves the agent's data dir, can open it. The JWE is then signed (a compact JWS, EdDSA, with the key
// that signs leases and that agents pin at enrollment), so only the control plane can have made it.
// WebCrypto through jose: the same code on Node and Workers.
import { CompactEncrypt, CompactSign, compactDecrypt, compactVerify, createLocalJWKSet, exportJWK, generateKeyPair, importJWK, calculateJwkThumbprint, type JWK } from "jose";
import { z } from "zod";

export const SEAL_ALG = "ECDH-ES";
export const SEAL_ENC = "A256GCM";
/** The JWE's `cty`: what its plaintext is. */
export const SEALED_CONTENT_TYPE = "leasehold-task-secrets+json";

/** A node's public encryption key as it registers it: an X25519 OKP JWK without private members. */
export const nodeEncryptionKeySchema = z
  .strictObject({
    kty: z.literal("OKP"),
    crv: z.literal("X25519"),
    x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be a 32-byte X25519 public key, base64url"),
    kid: z.string().max(128).optional(),
    use: z.literal("enc").optional(),
    alg: z.literal(SEAL_ALG).optional(),
  })
  .describe("The node's X25519 public key (JWK); task secrets are sealed to it");
export type NodeEncryptionKey = z.infer<typeof nodeEncryptionKeySchema>;

/** One file the agent puts into the container (on tmpfs, read-only), with its content. */
export const sealedFileSchema = z.object({
  path: z.string().describe("Absolute path in the container"),
  mode: z.int().min(0).max(0o777).describe("File mode, e.g. 256 (0400)"),
  data: z.string().describe("Content, base64"),
});

/**
 * A config file that reads an upstream's address (see config-template.ts): rendered but for the addresses,
 * which the agent puts in as it writes the file. It has no `data`, so an agent that does not know this
 * form refuses the payload instead of writing the file without them.
 */
export const sealedTemplateFileSchema = z.object({
  path: z.string().describe("Absolute path in the container"),
  mode: z.int().min(0).max(0o777).describe("File mode, e.g. 292 (0444)"),
  segments: z.array(z.union([z.strictObject({ text: z.string() }), z.strictObject({ upstream: z.string().describe("The upstream's service") })])),
});

/** What a sealed payload holds once opened. */
export const sealedContentSchema = z.object({
  v: z.literal(1),
  /** The task and payload it was sealed for: an agent uses it for no other. */
  taskId: z.string(),
  ph: z.string().describe("payloadHash of the task spec this belongs to (the lease's ph)"),
  files: z.array(z.union([sealedFileSchema, sealedTemplateFileSchema])),
  env: z.record(z.string(), z.string()),
});
export type SealedContent = z.infer<typeof sealedContentSchema>;
export type SealedFile = z.infer<typeof sealedFileSchema>;
export type SealedTemplateFile = z.infer<typeof sealedTemplateFileSchema>;

export interface NodeKeyPair {
  publicJwk: NodeEncryptionKey;
  privateJwk: JWK;
}

/** A fresh X25519 key pair for a node (made by the agent at enrollment). */
export async function generateNodeKeyPair(): Promise<NodeKeyPair> {
  const { publicKey, privateKey } = await generateKeyPair(SEAL_ALG, { crv: "X25519", extractable: true });
  const pub = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub);
  return {
    publicJwk: { kty: "OKP", crv: "X25519", x: String(pub.x), kid, use: "enc", alg: SEAL_ALG },
    privateJwk: { ...(await exportJWK(privateKey)), kid, use: "enc", alg: SEAL_ALG },
  };
}

/** The key's RFC 7638 thumbprint: names it in the JWE header and in caches. */
export function nodeKeyId(key: NodeEncryptionKey): Promise<string> {
  return calculateJwkThumbprint({ kty: key.kty, crv: key.crv, x: key.x });
}

/** The JWS `typ` of a signed sealed payload. */
export const SEALED_TYPE = "leasehold-sealed+jws";

/** The control plane's lease-signing key: it signs each sealed payload it makes. */
export interface SealSigner {
  privateKey: CryptoKey;
  kid: string;
}

/**
 * Seals `content` to the node's public key and signs the result. Each call draws a fresh ephemeral key:
 * two seals differ.
 */
export async function sealFor(key: NodeEncryptionKey, content: SealedContent, signer: SealSigner): Promise<string> {
  const publicKey = await importJWK({ kty: key.kty, crv: key.crv, x: key.x }, SEAL_ALG);
  const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(content)))
    .setProtectedHeader({ alg: SEAL_ALG, enc: SEAL_ENC, cty: SEALED_CONTENT_TYPE, kid: await nodeKeyId(key) })
    .encrypt(publicKey);
  return new CompactSign(new TextEncoder().encode(jwe)).setProtectedHeader({ alg: "EdDSA", typ: SEALED_TYPE, kid: signer.kid }).sign(signer.privateKey);
}

export class SealError extends Error {
  override name = "SealError";
}

/**
 * Opens a sealed payload: checks its signature against the control plane's pinned keys (`trusted`), opens
 * it with the node's private key, and checks it was sealed for `expect` (the task and payload hash of the
 * lease it came with). Throws SealError, whose message never holds any plaintext.
 */
export async function openSealed(privateJwk: JWK, sealed: string, expect: { taskId: string; ph: string }, trusted: { keys: JWK[] }): Promise<SealedContent> {
  let jwe: string;
  try {
    const { payload, protectedHeader } = await compactVerify(sealed, createLocalJWKSet({ keys: trusted.keys }), { algorithms: ["EdDSA"] });
    if (protectedHeader.typ !== SEALED_TYPE) throw new SealError("not a sealed payload");
    jwe = new TextDecoder().decode(payload);
  } catch {
    throw new SealError("the task's sealed secrets are not signed by this control plane");
  }
  let plaintext: Uint8Array;
  try {
    const key = await importJWK(privateJwk, SEAL_ALG);
    ({ plaintext } = await compactDecrypt(jwe, key, { keyManagementAlgorithms: [SEAL_ALG], contentEncryptionAlgorithms: [SEAL_ENC] }));
  } catch {
    throw new SealError("the task's sealed secrets do not open with this node's key");
  }
  let parsed: ReturnType<typeof sealedContentSchema.safeParse>;
  try {
    parsed = sealedContentSchema.safeParse(JSON.parse(new TextDecoder().decode(plaintext)));
  } catch {
    throw new SealError("the task's sealed secrets are not valid JSON");
  }
  if (!parsed.success) throw new SealError("the task's sealed secrets are not in the expected shape");
  if (parsed.data.taskId !== expect.taskId || parsed.data.ph !== expect.ph) throw new SealError("the task's sealed secrets were sealed for another task or payload");
  return parsed.data;
}
