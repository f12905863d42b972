// A past (or future) moment as "3 s ago", ticking, with the exact ISO time on hover and for machines.
import { formatAgo, formatIso } from "../format";
import { useNow } from "../hooks/use-now";

export function Ago({ at }: { at: number | null | undefined }) {
  const now = useNow();
  if (at === null || at === undefined) return <span class="muted">never</span>;
  const iso = formatIso(at);
  return (
    <time dateTime={iso} title={iso}>
      {formatAgo(at, now)}
    </time>
  );
}
