// The control plane's EdDSA signing key: generated on Node, read from a secret binding on Workers.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";

export const SIGNING_ALG = "EdDSA";

export interface SigningKeys {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

/** A new Ed25519 key pair and its private JWK (to be stored by the caller). */
export async function generateSigningKey(): Promise<{ keys: SigningKeys; privateJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(SIGNING_ALG, { crv: "Ed25519", extractable: true });
  const privateJwk = await exportJWK(privateKey);
  return { keys: await signingKeysFromJwk(privateJwk), privateJwk };
}

/** Imports a private Ed25519 JWK (as stored on disk or in a Worker secret). */
export async function signingKeysFromJwk(privateJwk: JWK): Promise<SigningKeys> {
  if (privateJwk.kty !== "OKP" || privateJwk.crv !== "Ed25519" || typeof privateJwk.d !== "string") {
    throw new Error("signing key must be a private Ed25519 JWK (kty OKP, crv Ed25519, with d)");
  }
  const publicJwk: JWK = { kty: "OKP", crv: "Ed25519", x: privateJwk.x };
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateKey = (await importJWK({ ...privateJwk, alg: SIGNING_ALG }, SIGNING_ALG)) as CryptoKey;
  const publicKey = (await importJWK({ ...publicJwk, alg: SIGNING_ALG }, SIGNING_ALG)) as CryptoKey;
  return { kid, privateKey, publicKey, publicJwk: { ...publicJwk, kid, alg: SIGNING_ALG, use: "sig" } };
}

export function jwks(keys: SigningKeys): { keys: JWK[] } {
  return { keys: [keys.publicJwk] };
}
