// The signed-in operator: the token lives in sessionStorage only (gone when the tab closes, never sent
// anywhere but this origin's API). Its claims are decoded for display alone; the control plane judges it.

const KEY = "leasehold.token";

export interface TokenClaims {
  subject: string;
  /** Role per namespace ("*" for all of them). */
  roles: Record<string, string>;
  expiresAt: number | null;
}

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/** Bearer credentials never hold whitespace: a token pasted with a line break or quotes still works. */
export function cleanToken(text: string): string {
  return text.trim().replace(/^["']|["']$/g, "").replace(/^Bearer\s+/i, "");
}

/** What a JWT says about itself, unverified; null when it is not one. */
export function decodeClaims(token: string): TokenClaims | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const payload = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as { sub?: unknown; roles?: unknown; exp?: unknown };
    if (typeof payload.sub !== "string") return null;
    const roles: Record<string, string> = {};
    if (payload.roles && typeof payload.roles === "object") for (const [ns, role] of Object.entries(payload.roles)) if (typeof role === "string") roles[ns] = role;
    return { subject: payload.sub, roles, expiresAt: typeof payload.exp === "number" ? payload.exp * 1000 : null };
  } catch {
    return null;
  }
}

const RANK = ["viewer", "operator", "admin"];

/** Whether the claims give at least `role` on `namespace` (the control plane has the last word). */
export function claimsAllow(claims: TokenClaims | null, namespace: string, role: string): boolean {
  if (!claims) return false;
  const held = Math.max(RANK.indexOf(claims.roles[namespace] ?? ""), RANK.indexOf(claims.roles["*"] ?? ""));
  return held >= RANK.indexOf(role);
}
