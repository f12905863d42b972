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

/** What an agent sends to get a mesh certificate, at enrollment and through the heartbeat: its key and port. */
export const meshRequestSchema = z.strictObject({
  key: meshKeySchema,
  port: z.int().min(1).max(65535).describe("The TLS port other nodes' proxies dial this node's endpoints through"),
});
export type MeshRequest = z.infer<typeof meshRequestSchema>;

/** The URI a node certificate names its node by (in its subjectAltName). */
export const nodeUri = (nodeId: string) => `urn:leasehold:node:${nodeId}`;

/** The node a certificate names, from its subjectAltName as Node prints it ("URI:urn:leasehold:node:…, …"). */
export function nodeIdOfAltName(altName: string | undefined): string | null {
  for (const entry of (altName ?? "").split(/,\s*/)) {
    const m = /^URI:urn:leasehold:node:([A-Za-z0-9-]{1,64})$/.exec(entry);
    if (m) return m[1]!;
  }
  return null;
}
