// The mesh: the TLS port each agent's proxy takes connections from other nodes' proxies on, with node
// certificates the control plane issues (worker/mesh/certificates.ts). What crosses the wire to get one.
import { z } from "zod";

/** The agent's mesh key, an Ed25519 public JWK: its node certificate is issued for it. */
export const meshKeySchema = z.strictObject({
  kty: z.literal("OKP"),
  crv: z.literal("Ed25519"),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "an Ed25519 public key is 32 bytes, base64url"),
});
export type MeshKey = z.infer<typeof meshKeySchema>;

export const meshCertificateSchema = z.object({
  certificate: z.string().describe("The node's certificate (PEM): its id is a URI in the subjectAltName"),
  ca: z.string().describe("The cluster CA's certificate (PEM), to check peers' certificates by"),
  notAfter: z.number().describe("When the certificate lapses (ms since the epoch); agents ask for a new one past half its life"),
});
export type MeshCertificate = z.infer<typeof meshCertificateSchema>;
