// The protocol between concurrent-writes.test.ts and its writer processes, and the checks made on their logs.

/** The table the writers fill: `seq` is the commit order, since SQLite hands out rowids as rows commit. */
export const WRITES_TABLE_SQL = `CREATE TABLE concurrent_writes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  writer TEXT NOT NULL,
  via TEXT NOT NULL CHECK (via IN ('single', 'batch'))
)`;
/** One row per writer plus "shared", bumped inside every batch: lost updates would show as a short count. */
export const COUNTERS_TABLE_SQL = "CREATE TABLE concurrent_counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL)";

export const READY_SUFFIX = ".ready";
export const GO_FILE = "go";

export interface Ack {
  id: string;
  via: "single" | "batch";
  /** Wall-clock milliseconds (fractional) when the write was sent. */
  start: number;
  /** Wall-clock milliseconds (fractional) when the write was acknowledged; comparable across processes. */
  at: number;
}

export interface WriterLog {
  acks: Ack[];
  failures: string[];
}

/** Writers print one line per outcome: "ack <id> <single|batch> <start> <at>" or "fail <id> <reason>". */
export function formatAck(ack: Ack): string {
  return `ack ${ack.id} ${ack.via} ${ack.start.toFixed(3)} ${ack.at.toFixed(3)}\n`;
}

export function parseWriterLog(stdout: string): WriterLog {
  const acks: Ack[] = [];
  const failures: string[] = [];
  for (const line of stdout.split("\n")) {
    if (line === "") continue;
    const [kind, id, via, start, at] = line.split(" ");
    if (kind === "ack" && id && (via === "single" || via === "batch") && start && at) acks.push({ id, via, start: Number(start), at: Number(at) });
    else if (kind === "fail") failures.push(line);
    else throw new Error(`unexpected writer output: ${line}`);
  }
  return { acks, failures };
}

/** Ids that were acknowledged to a writer but are not in the table. */
export function missingAcks(acks: Ack[], stored: ReadonlySet<string>): string[] {
  return acks.filter((a) => !stored.has(a.id)).map((a) => a.id);
}

/** How many acknowledgements of each log fall inside the window where both writers were acknowledging writes. */
export function overlap(a: Ack[], b: Ack[]): { windowMs: number; aInside: number; bInside: number } {
  if (a.length === 0 || b.length === 0) return { windowMs: 0, aInside: 0, bInside: 0 };
  const span = (acks: Ack[]) => [Math.min(...acks.map((x) => x.at)), Math.max(...acks.map((x) => x.at))] as const;
  const [aStart, aEnd] = span(a);
  const [bStart, bEnd] = span(b);
  const start = Math.max(aStart, bStart);
  const end = Math.min(aEnd, bEnd);
  if (end <= start) return { windowMs: 0, aInside: 0, bInside: 0 };
  const inside = (acks: Ack[]) => acks.filter((x) => x.at >= start && x.at <= end).length;
  return { windowMs: end - start, aInside: inside(a), bInside: inside(b) };
}

/** Times the commit order switches from one writer to the other (0 means one ran entirely after the other). */
export function writerSwitches(writersInCommitOrder: string[]): number {
  let switches = 0;
  for (let i = 1; i < writersInCommitOrder.length; i++) if (writersInCommitOrder[i] !== writersInCommitOrder[i - 1]) switches++;
  return switches;
}

/** Writes of `a` that were still waiting while `b` had a write acknowledged: the two really contended for the file. */
export function contendedWrites(a: Ack[], b: Ack[]): number {
  const bTimes = b.map((x) => x.at).sort((p, q) => p - q);
  const firstAtOrAfter = (t: number) => {
    let lo = 0;
    let hi = bTimes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((bTimes[mid] ?? Infinity) < t) lo = mid + 1;
      else hi = mid;
    }
    return bTimes[lo];
  };
  return a.filter((x) => {
    const t = firstAtOrAfter(x.start);
    return t !== undefined && t < x.at;
  }).length;
}
