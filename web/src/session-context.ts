// The signed-in session every view reads: the API client (with the token), the token's claims for
// display, and sign-out.
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { ApiClient } from "./api/client";
import type { TokenClaims } from "./session";

export interface Session {
  client: ApiClient;
  claims: TokenClaims | null;
  /** The namespaces the token can see, as GET /v1/namespaces answered at sign-in. */
  namespaces: string[];
  signOut(reason?: string): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in page");
  return session;
}
