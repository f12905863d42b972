// A failure the page cannot hide: said in words, announced to screen readers, with what to do when we know.
import { ApiError } from "../api/client";

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.status === 0 ? error.message : `${error.message} (HTTP ${error.status})`;
  return error instanceof Error ? error.message : String(error);
}

export function ProblemNote({ error, when }: { error: unknown; when?: string }) {
  if (error === undefined || error === null) return null;
  return (
    <p class="problem" role="alert">
      {when ? `${when}: ` : ""}
      {errorText(error)}
    </p>
  );
}

/** A view a token's roles do not reach (403): what it needs, instead of a bare refusal. */
export function NeedsRole({ what, error }: { what: string; error: ApiError }) {
  return (
    <div class="notice" role="status">
      <p>
        <strong>{what}</strong>
      </p>
      <p class="muted">The control plane said: {error.message}</p>
    </div>
  );
}
