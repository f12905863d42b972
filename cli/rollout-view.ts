// How a followed deployment is shown as it goes. On a terminal: a board redrawn in place, a mark per slot
// (per region when the deployment rolls in waves) with the counts and the description. Elsewhere: plain
// lines, one per change of the counts or the description, one per new event and note.
import type { DeploymentDetail, DeploymentSlot } from "./api-types";
import { canaryPhrase, countsPhrase, hasWaves, liveSlots, markOf, progressPhrase, type SlotMark } from "./deployment-progress";
import { oneLine } from "./format";
import type { Writable } from "./io";
import { InPlaceBlock, paint } from "./live-display";

const MARKS: Record<SlotMark, { char: string; sgr: string; legend: string }> = {
  healthy: { char: "#", sgr: "32", legend: "healthy" },
  starting: { char: "+", sgr: "33", legend: "starting" },
  failed: { char: "x", sgr: "31", legend: "failed" },
  offline: { char: "!", sgr: "35", legend: "offline host" },
  old: { char: "o", sgr: "2", legend: "old version" },
  waiting: { char: ".", sgr: "2", legend: "not placed yet" },
};

/** Marks per board row; a larger job's slots continue on the next row. */
const MARKS_PER_ROW = 50;

export interface RolloutView {
  /** One look at the deployment; `notes` are lines that matter now (a slot waiting for room, a hint). */
  show(d: DeploymentDetail, elapsedMs: number, notes: readonly string[]): void;
}

export interface ViewOptions {
  /** "deployment 61c70627 of default/web: version 1 → 2". */
  header: string;
  /** How plain progress lines start ("  ", or "waiting for default/web: "). */
  linePrefix: string;
  color: boolean;
}

export function createRolloutView(out: Writable, opts: ViewOptions): RolloutView {
  return out.isTTY === true ? new BoardView(out, opts) : new PlainView(out, opts);
}

class PlainView implements RolloutView {
  private lastLine: string | null = null;
  private lastEvent: number | null = null;
  private notes = new Set<string>();

  constructor(
    private readonly out: Writable,
    private readonly opts: ViewOptions,
  ) {}

  show(d: DeploymentDetail, _elapsedMs: number, notes: readonly string[]): void {
    const write = (line: string) => void this.out.write(line + "\n");
    if (this.lastEvent === null) {
      write(this.opts.header);
      // What happened before the wait began is in `deployment status`; only what happens from now on is news.
      this.lastEvent = Math.max(0, ...d.events.map((e) => e.id));
    }
    for (const e of d.events) {
      if (e.id <= this.lastEvent) continue;
      write(`  ${e.type}: ${oneLine(e.message)}`);
      this.lastEvent = e.id;
    }
    const line = `${progressPhrase(d)} (${d.description})`;
    if (line !== this.lastLine) write(this.opts.linePrefix + line);
    this.lastLine = line;
    for (const n of notes) if (!this.notes.has(n)) write(`  ${n}`);
    this.notes = new Set(notes);
  }
}

class BoardView implements RolloutView {
  private readonly block: InPlaceBlock;

  constructor(
    out: Writable,
    private readonly opts: ViewOptions,
  ) {
    this.block = new InPlaceBlock(out);
  }

  show(d: DeploymentDetail, elapsedMs: number, notes: readonly string[]): void {
    this.block.draw(boardLines(d, { ...this.opts, elapsedMs, notes }));
  }
}

/** The board's lines: header, a row of marks per group of slots, the description, notes, the legend. */
export function boardLines(d: DeploymentDetail, opts: { header: string; color: boolean; elapsedMs: number; notes: readonly string[] }): string[] {
  const rows: { label: string; slots: DeploymentSlot[]; phrase: string }[] = [];
  const slots = liveSlots(d);
  const canaries = slots.filter((s) => s.canary);
  const regular = slots.filter((s) => !s.canary);
  if (canaries.length > 0) rows.push({ label: "canaries", slots: canaries, phrase: canaryPhrase(canaries) ?? "" });
  if (hasWaves(d)) {
    for (const region of regionsInOrder(d, regular)) {
      const inRegion = regular.filter((s) => (s.region ?? "-") === region);
      const tag = d.wavesDone.includes(region) ? " (done)" : d.wave === region ? " (rolling)" : "";
      rows.push({ label: region + tag, slots: inRegion, phrase: countsPhrase(d.version, inRegion) });
    }
  } else rows.push({ label: "slots", slots: regular, phrase: countsPhrase(d.version, regular) });

  const labelWidth = Math.max(...rows.map((r) => r.label.length));
  const markWidth = Math.min(MARKS_PER_ROW, Math.max(1, ...rows.map((r) => r.slots.length)));
  const used = new Set<SlotMark>();
  const lines = [`${opts.header}  ${d.status}  ${formatElapsed(opts.elapsedMs)}`];
  for (const r of rows) {
    const marks = r.slots.map(markOf);
    for (const m of marks) used.add(m);
    for (let i = 0; i === 0 || i < marks.length; i += MARKS_PER_ROW) {
      const chunk = marks.slice(i, i + MARKS_PER_ROW);
      const painted = chunk.map((m) => paint(MARKS[m].char, MARKS[m].sgr, opts.color)).join("") + " ".repeat(markWidth - chunk.length);
      lines.push(`  ${(i === 0 ? r.label : "").padEnd(labelWidth)}  ${painted}  ${i === 0 ? r.phrase : ""}`.trimEnd());
    }
  }
  lines.push(`  ${d.description}`);
  for (const n of opts.notes) lines.push(`  ${n}`);
  const legend = (Object.keys(MARKS) as SlotMark[]).filter((m) => used.has(m)).map((m) => `${paint(MARKS[m].char, MARKS[m].sgr, opts.color)} ${MARKS[m].legend}`);
  if (legend.length > 0) lines.push(`  ${legend.join("  ")}`);
  return lines;
}

/** Waves done, the one rolling, then the rest by name (the CLI does not know update.waveOrder). */
function regionsInOrder(d: DeploymentDetail, slots: readonly DeploymentSlot[]): string[] {
  const all = [...new Set(slots.map((s) => s.region ?? "-"))].sort();
  const first = [...d.wavesDone, ...(d.wave !== null ? [d.wave] : [])].filter((r) => all.includes(r));
  return [...first, ...all.filter((r) => !first.includes(r))];
}

function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}
