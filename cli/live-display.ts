// Output that is redrawn in place on a terminal. Only for streams that say they are one (`isTTY`): a pipe,
// a file or a CI log gets plain lines from the caller instead, with no escape codes.
import type { Writable } from "./io";

const ESC = "\x1b[";

/** Colours for a terminal that wants them: NO_COLOR (https://no-color.org) turns them off. */
export function wantsColor(out: Writable, env: Record<string, string | undefined>): boolean {
  return out.isTTY === true && (env["NO_COLOR"] ?? "") === "" && env["TERM"] !== "dumb";
}

/** `text` in an SGR colour (e.g. "32" green) when `on`. */
export const paint = (text: string, sgr: string, on: boolean) => (on ? `${ESC}${sgr}m${text}${ESC}0m` : text);

/** The line cut to `width` visible characters; colour codes do not count, and one left open is closed. */
export function fitLine(line: string, width: number): string {
  let visible = 0;
  let out = "";
  let coloured = false;
  for (let i = 0; i < line.length; i++) {
    if (line.startsWith(ESC, i)) {
      const end = line.indexOf("m", i);
      if (end < 0) break;
      const code = line.slice(i, end + 1);
      coloured = code !== `${ESC}0m`;
      out += code;
      i = end;
      continue;
    }
    if (visible >= width) return out + (coloured ? `${ESC}0m` : "");
    out += line[i];
    visible++;
  }
  return out;
}

/** A block of lines that each draw replaces: the cursor goes back up over the last one, which is cleared. */
export class InPlaceBlock {
  private drawn = 0;

  constructor(private readonly out: Writable) {}

  draw(lines: readonly string[]): void {
    // A line longer than the terminal wraps and would take two rows: cut it, so the count going up is right.
    const width = this.out.columns;
    const fitted = width !== undefined && width > 1 ? lines.map((l) => fitLine(l, width - 1)) : lines;
    const back = this.drawn > 0 ? `${ESC}${this.drawn}A\r${ESC}J` : "";
    this.out.write(back + fitted.join("\n") + "\n");
    this.drawn = fitted.length;
  }
}
