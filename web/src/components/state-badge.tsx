// A state in words and in colour (never colour alone): the tone says good, under way, bad or at rest.
export type Tone = "good" | "busy" | "bad" | "idle";

const TONES: Record<string, Tone> = {
  running: "good",
  ready: "good",
  healthy: "good",
  successful: "good",
  complete: "good",
  eligible: "good",
  live: "good",
  pending: "busy",
  placed: "busy",
  leased: "busy",
  starting: "busy",
  initializing: "busy",
  draining: "busy",
  paused: "busy",
  reconnecting: "busy",
  polling: "busy",
  loading: "busy",
  failed: "bad",
  lost: "bad",
  down: "bad",
  unhealthy: "bad",
  disconnected: "bad",
  refused: "bad",
  stopped: "idle",
  cancelled: "idle",
  reverted: "idle",
  ineligible: "idle",
};

export function toneOf(state: string): Tone {
  return TONES[state] ?? (state.endsWith("failed") ? "bad" : "idle");
}

export function StateBadge({ state, label, tone }: { state: string; label?: string; tone?: Tone }) {
  return <span class={`state tone-${tone ?? toneOf(state)}`}>{label ?? state}</span>;
}
