// The run's trace: one readable line per step, hashed as it goes so two runs of a seed can be compared.
import { createHash, type Hash } from "node:crypto";

export class Trace {
  private readonly lines: string[] = [];
  private readonly hash: Hash = createHash("sha256");
  private count = 0;

  constructor(
    /** Lines kept for a violation report (all of them when printing a replay). */
    private readonly keep: number,
    private readonly echo: ((line: string) => void) | null = null,
  ) {}

  /** Records a step: virtual time in seconds, who acted, and what happened. */
  step(at: number, who: string, what: string): void {
    const line = `${(at / 1000).toFixed(3).padStart(8)}s ${who.padEnd(6)} ${what}`;
    this.hash.update(line + "\n");
    this.count++;
    this.echo?.(line);
    this.lines.push(line);
    if (this.lines.length > this.keep) this.lines.splice(0, this.lines.length - this.keep);
  }

  /** Hash of every line so far (the digest of a copy, so the trace can go on). */
  digest(): string {
    return this.hash.copy().digest("hex").slice(0, 16);
  }

  get steps(): number {
    return this.count;
  }

  tail(): string {
    return this.lines.join("\n");
  }
}

/** An invariant broke: carries the seed and the last steps so the failure reads on its own. */
export class Violation extends Error {
  override name = "Violation";
  constructor(
    readonly seed: number,
    readonly check: string,
    readonly detail: string,
    readonly trace: string,
  ) {
    super(`seed ${seed}: ${check}: ${detail}\n--- last steps ---\n${trace}\n--- replay: npm run sim -- --seed ${seed}`);
  }
}
