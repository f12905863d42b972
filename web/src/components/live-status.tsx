// Whether what the page shows is live: following the event stream, reconnecting to it, or polling.
import type { FeedMode } from "../hooks/use-events";
import { StateBadge } from "./state-badge";

const WORDS: Record<FeedMode, string> = {
  loading: "connecting",
  live: "live",
  reconnecting: "reconnecting",
  polling: "polling every 2 s",
  unsupported: "no event stream",
  refused: "refused",
};

export function LiveStatus({ mode, what }: { mode: FeedMode; what: string }) {
  return (
    <span class="live-status" role="status" aria-label={`${what}: ${WORDS[mode]}`}>
      <span class="muted">{what}:</span> <StateBadge state={mode} label={WORDS[mode]} tone={mode === "unsupported" ? "idle" : undefined} />
    </span>
  );
}
