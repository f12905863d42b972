// Node certificates for the mesh: the TLS port agents' proxies talk to each other on (see docs/discovery.md).
//
// The cluster's certificate authority is the control plane's own Ed25519 signing key, the key agents
// already pin. Its certificate is built from that key alone, and Ed25519 signatures are deterministic, so
// every instance (a Worker isolate too) makes the very same CA certificate and nothing is stored. A node
// certificate names the node by id (a URI in its subjectAltName) and lives `meshCertTtl`; agents ask for a
// new one through the heartbeat past half its life. Ed25519 throughout: WebCrypto signs it on Node and on
// Workers alike, and it is a plain 32-byte key on the wire.
import * as der from "../../lib/der";
import type { SigningKeys } from "../auth/keys";
import { nodeUri } from "../../api/mesh";

const ED25519 = "1.3.101.112";
const CN = "2.5.4.3";
const BASIC_CONSTRAINTS = "2.5.29.19";
const KEY_USAGE = "2.5.29.15";
const EXT_KEY_USAGE = "2.5.29.37";
const SUBJECT_ALT_NAME = "2.5.29.17";
const SUBJECT_KEY_ID = "2.5.29.14";
const AUTHORITY_KEY_ID = "2.5.29.35";
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
/** keyUsage bits (RFC 5280 4.2.1.3), in the first byte. */
const DIGITAL_SIGNATURE = 0x80;
const KEY_CERT_SIGN = 0x04;

/** An Ed25519 public key as a JWK (what agents send) to its 32 raw bytes. */
export function ed25519PublicKey(jwk: { kty?: string; crv?: string; x?: string }): der.Der {
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") throw new Error("a mesh key is an Ed25519 public JWK (kty OKP, crv Ed25519, x)");
  const raw = Uint8Array.from(atob(jwk.x.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  if (raw.length !== 32) throw new Error("an Ed25519 public key is 32 bytes");
  return raw;
}

const name = (cn: string) => der.sequence(der.set(der.sequence(der.oid(CN), der.utf8String(cn))));
const algorithm = der.sequence(der.oid(ED25519));
const spki = (raw: Uint8Array) => der.sequence(algorithm, der.bitString(raw));
const extension = (id: string, critical: boolean, value: der.Der) => der.sequence(der.oid(id), ...(critical ? [der.boolean(true)] : []), der.octetString(value));

/** A named-bit BIT STRING of one byte, its trailing zero bits counted unused as DER requires. */
function keyUsage(bits: number): der.Der {
  let unused = 0;
  while (unused < 7 && !(bits & (1 << unused))) unused++;
  return der.tlv(0x03, Uint8Array.of(unused, bits));
}

interface Template {
  serial: Uint8Array;
  issuer: string;
  subject: string;
  notBefore: number;
  notAfter: number;
  publicKey: Uint8Array;
  extensions: der.Der[];
}

async function sign(t: Template, keys: SigningKeys): Promise<Uint8Array> {
  const tbs = der.sequence(
    der.explicit(0, der.smallInteger(2)),
    der.unsignedInteger(t.serial),
    algorithm,
    name(t.issuer),
    der.sequence(der.time(t.notBefore), der.time(t.notAfter)),
    name(t.subject),
    spki(t.publicKey),
    der.explicit(3, der.sequence(...t.extensions)),
  );
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, keys.privateKey, tbs));
  return der.sequence(tbs, algorithm, der.bitString(signature));
}

/** A key's identifier (RFC 5280 4.2.1.2 allows any method): the first 20 bytes of its SHA-256. */
const keyId = async (raw: der.Der) => new Uint8Array(await crypto.subtle.digest("SHA-256", raw)).slice(0, 20);
const subjectKeyId = async (raw: der.Der) => extension(SUBJECT_KEY_ID, false, der.octetString(await keyId(raw)));
const authorityKeyId = async (raw: der.Der) => extension(AUTHORITY_KEY_ID, false, der.sequence(der.implicitPrimitive(0, await keyId(raw))));

const caName = (keys: SigningKeys) => `leasehold cluster ${keys.kid}`;
/** 1 January 2020 to the end of 9999: the CA lives as long as the signing key it is built from. */
const CA_NOT_BEFORE = Date.UTC(2020, 0, 1);
const CA_NOT_AFTER = Date.UTC(9999, 11, 31, 23, 59, 59);

const caCache = new WeakMap<SigningKeys, Promise<string>>();

/** The cluster CA's certificate (PEM): the same bytes from every instance holding the signing key. */
export function caCertificate(keys: SigningKeys): Promise<string> {
  let pem = caCache.get(keys);
  if (!pem) {
    pem = (async () => {
      const publicKey = ed25519PublicKey(keys.publicJwk);
      const serial = new Uint8Array(await crypto.subtle.digest("SHA-256", publicKey)).slice(0, 16);
      serial[0]! &= 0x7f;
      const cert = await sign(
        {
          serial,
          issuer: caName(keys),
          subject: caName(keys),
          notBefore: CA_NOT_BEFORE,
          notAfter: CA_NOT_AFTER,
          publicKey,
          extensions: [
            extension(BASIC_CONSTRAINTS, true, der.sequence(der.boolean(true))),
            extension(KEY_USAGE, true, keyUsage(KEY_CERT_SIGN)),
            await subjectKeyId(publicKey),
          ],
        },
        keys,
      );
      return der.toPem("CERTIFICATE", cert);
    })();
    caCache.set(keys, pem);
  }
  return pem;
}

export interface MeshCertificate {
  /** The node's certificate, PEM. */
  certificate: string;
  /** The CA certificate to trust peers by, PEM. */
  ca: string;
  notAfter: number;
}

/**
 * A certificate for `nodeId`'s mesh key, valid from a minute before `now` (clocks differ) for `ttlMs`: a
 * client and server certificate both, since a node's proxy is each in turn.
 */
export async function issueNodeCertificate(keys: SigningKeys, nodeId: string, meshKey: { kty?: string; crv?: string; x?: string }, now: number, ttlMs: number): Promise<MeshCertificate> {
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0]! &= 0x7f;
  const notAfter = Math.floor((now + ttlMs) / 1000) * 1000;
  const uri = new TextEncoder().encode(nodeUri(nodeId));
  const publicKey = ed25519PublicKey(meshKey);
  const cert = await sign(
    {
      serial,
      issuer: caName(keys),
      subject: nodeId,
      notBefore: now - 60_000,
      notAfter,
      publicKey,
      extensions: [
        await subjectKeyId(publicKey),
        await authorityKeyId(ed25519PublicKey(keys.publicJwk)),
        extension(BASIC_CONSTRAINTS, true, der.sequence()),
        extension(KEY_USAGE, true, keyUsage(DIGITAL_SIGNATURE)),
        extension(EXT_KEY_USAGE, false, der.sequence(der.oid(SERVER_AUTH), der.oid(CLIENT_AUTH))),
        extension(SUBJECT_ALT_NAME, false, der.sequence(der.implicitPrimitive(6, uri))),
      ],
    },
    keys,
  );
  return { certificate: der.toPem("CERTIFICATE", cert), ca: await caCertificate(keys), notAfter };
}
