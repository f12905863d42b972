// Canonical JSON and the lease payload hash: the one serialisation and digest both sides compute, so the
// control plane's `ph` claim and the agent's check of the payload it was handed agree byte for byte.
// WebCrypto only (crypto.subtle, btoa): the same code runs on Node, on Workers and in the agent.

/**
 * JSON with every object's keys sorted (by UTF-16 code unit, as Array.prototype.sort compares strings),
 * undefined members left out and undefined array items written null, as JSON.stringify does. A value and
 * its JSON round trip serialise the same, so what one side hashes before sending, the other hashes after
 * parsing.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * The `ph` claim of a lease: SHA-256 of the payload's canonical JSON (UTF-8), base64url without padding.
 * Hash the payload as it arrived, not a schema's parse of it: a parse drops members this side does not
 * know, and the hash would no longer match.
 */
export async function payloadHash(payload: unknown): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonicalJson(payload))));
  let binary = "";
  for (const b of digest) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
