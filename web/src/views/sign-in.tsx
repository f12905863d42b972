// Sign-in: an operator token, checked by the control plane itself (GET /v1/namespaces) before it is kept
// for the session. A refused token is said to be refused, with the control plane's reason.
import { useId, useState } from "preact/hooks";
import { ApiError, createApiClient } from "../api/client";
import type { Namespace } from "../api/types";
import { errorText } from "../components/problem";
import { cleanToken } from "../session";

export function SignIn({ notice, onSignedIn }: { notice: string | undefined; onSignedIn: (token: string, namespaces: string[]) => void }) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const inputId = useId();
  const helpId = useId();

  async function submit(e: Event) {
    e.preventDefault();
    const token = cleanToken(text);
    if (!token) return setError("Paste an operator token first.");
    setBusy(true);
    setError(null);
    try {
      const { namespaces } = await createApiClient(token, () => undefined).get<{ namespaces: Namespace[] }>("/v1/namespaces");
      onSignedIn(token, namespaces.map((n) => n.name));
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? `The control plane refused this token: ${err.message}` : `Could not sign in: ${errorText(err)}`);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" class="sign-in">
      <h1 tabIndex={-1}>Sign in to leasehold</h1>
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      <form onSubmit={submit} class="card">
        <label for={inputId}>Operator token</label>
        <input id={inputId} type="password" autoComplete="off" spellcheck={false} value={text} onInput={(e) => setText(e.currentTarget.value)} aria-describedby={helpId} aria-invalid={error ? true : undefined} />
        <p id={helpId} class="muted">
          The token is kept in this tab only (session storage) and sent to this control plane alone. <code>npm start</code> prints an admin token on its first start (and keeps it in{" "}
          <code>.data/dev-admin-token</code>); <code>leasehold token create --admin --data-dir DIR</code> mints another, and an admin issues narrower ones with <code>POST /v1/tokens</code>.
        </p>
        {error ? (
          <p class="problem" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
