// The node's mesh identity on disk: an Ed25519 key (mesh-key.pem, 0600) and the certificate the control
// plane issued for it (mesh-cert.json). Both are kept across restarts, so an agent restarted while the
// control plane is away still serves and dials other nodes until its certificate lapses.
import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { meshCertificateSchema, type MeshCertificate, type MeshKey } from "../../api/mesh";
import { ensurePrivateDir, tightenPrivateFile, writePrivateFile, type TightenedWarning } from "../../lib/private-files";

const KEY_FILE = "mesh-key.pem";
const CERT_FILE = "mesh-cert.json";

export interface MeshIdentity {
  /** The private key, PKCS#8 PEM, as node:tls takes it. */
  readonly keyPem: string;
  readonly publicJwk: MeshKey;
  /** The certificate held, if any (it may have lapsed). */
  certificate(): MeshCertificate | undefined;
  /** Whether to ask for a new one: none held, or past half its life (or lapsed) at `now`. */
  due(now: number): boolean;
  /** Takes a certificate from the control plane, after checking it is for this key. */
  accept(cert: MeshCertificate): void;
}

export function loadOrCreateMeshIdentity(dataDir: string, warn: TightenedWarning): MeshIdentity {
  ensurePrivateDir(dataDir, warn);
  const keyPath = join(dataDir, KEY_FILE);
  const certPath = join(dataDir, CERT_FILE);
  let keyPem: string;
  if (tightenPrivateFile(keyPath, warn)) keyPem = readFileSync(keyPath, "utf8");
  else {
    keyPem = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    writePrivateFile(keyPath, keyPem);
  }
  const jwk = createPublicKey(createPrivateKey(keyPem)).export({ format: "jwk" });
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") throw new Error(`${keyPath} does not hold an Ed25519 key: move it away to have the agent make a new one`);
  const publicJwk: MeshKey = { kty: "OKP", crv: "Ed25519", x: jwk.x };

  let held: { cert: MeshCertificate; notBefore: number } | undefined;
  const take = (cert: MeshCertificate) => {
    const x509 = new X509Certificate(cert.certificate);
    const certKey = x509.publicKey.export({ format: "jwk" });
    if (certKey.x !== publicJwk.x) throw new Error("the mesh certificate is not for this node's mesh key");
    held = { cert, notBefore: Date.parse(x509.validFrom) };
  };
  try {
    if (tightenPrivateFile(certPath, warn)) take(meshCertificateSchema.parse(JSON.parse(readFileSync(certPath, "utf8"))));
  } catch (err) {
    // One for another key (the key file was replaced) or unreadable: asked for again at the first heartbeat.
    warn(`ignoring ${certPath}: ${err instanceof Error ? err.message : String(err)}`);
  }

  return {
    keyPem,
    publicJwk,
    certificate: () => held?.cert,
    due(now) {
      if (!held) return true;
      return now >= held.notBefore + (held.cert.notAfter - held.notBefore) / 2;
    },
    accept(cert) {
      take(cert);
      writePrivateFile(certPath, JSON.stringify(cert));
    },
  };
}
