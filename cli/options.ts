// Parsers for option values; they throw commander's InvalidArgumentError so the message names the option.
import { InvalidArgumentError } from "commander";
import { parseDuration } from "../api/duration";

export function durationOption(value: string): number {
  const ms = parseDuration(value);
  if (ms === null || ms <= 0) throw new InvalidArgumentError(`"${value}" is not a duration (e.g. 500ms, 30s, 2m)`);
  return ms;
}

export function intOption(min: number, max: number) {
  return function parseInt(value: string): number {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** Repeatable `--label key=value`. */
export function labelOption(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`"${value}" is not key=value`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}
