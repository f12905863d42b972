// Stable hashing: canonical JSON (sorted keys) and SHA-256 via WebCrypto, for specs and join tokens.
// Canonical JSON lives in api/ because lease payload hashes are computed the same way on the agent.
export { canonicalJson } from "../api/payload-hash";

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A random secret of `bytes` bytes, base64url. */
export function randomSecret(bytes = 24): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  let text = "";
  for (const b of raw) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
