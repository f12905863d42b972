// Used against capacity as a bar (a meter to assistive technology) with the numbers beside it in words.
export function CapacityBar({ label, used, total, text }: { label: string; used: number; total: number; text: string }) {
  const share = total > 0 ? Math.min(1, used / total) : 0;
  const percent = Math.round(share * 100);
  const level = share >= 0.9 ? "high" : share >= 0.7 ? "mid" : "low";
  return (
    <div class="capacity">
      <div class={`bar bar-${level}`} role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={total} aria-valuenow={used} aria-valuetext={`${text} (${percent}%)`}>
        <div class="bar-fill" style={{ width: `${percent}%` }} />
      </div>
      <span class="bar-text">
        {text} <span class="muted">({percent}%)</span>
      </span>
    </div>
  );
}
