// Parsers for option values; they throw commander's InvalidArgumentError so the message names the option.
import { isIP } from "node:net";
import { InvalidArgumentError } from "commander";
import { parseDuration } from "../api/duration";

export function durationOption(value: string): number {
  const ms = parseDuration(value);
  if (ms === null || ms <= 0) throw new InvalidArgumentError(`"${value}" is not a duration (e.g. 500ms, 30s, 2m)`);
  return ms;
}

/** A duration of at least `min` milliseconds. */
export function durationAtLeast(min: number) {
  return function parseAtLeast(value: string): number {
    const ms = durationOption(value);
    if (ms < min) throw new InvalidArgumentError(`"${value}" is shorter than ${min >= 1000 ? `${min / 1000}s` : `${min}ms`}`);
    return ms;
  };
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

export type AdvertiseEntry = { address: string; scope: "region" | "public" };

/**
 * Addresses to advertise: `ADDR[,scope=region|public]`, several separated by commas or spaces
 * ("10.0.0.5,203.0.113.7,scope=public"); a `scope=` applies to the address before it, region when none.
 */
export function parseAdvertise(text: string): AdvertiseEntry[] {
  const entries: AdvertiseEntry[] = [];
  for (const token of text.split(/[\s,]+/).filter((t) => t !== "")) {
    const scope = /^scope=(.*)$/.exec(token);
    if (scope) {
      const last = entries[entries.length - 1];
      if (!last) throw new InvalidArgumentError(`"${token}" names no address before it`);
      if (scope[1] !== "region" && scope[1] !== "public") throw new InvalidArgumentError(`scope must be region or public, not "${scope[1]}"`);
      last.scope = scope[1];
      continue;
    }
    if (isIP(token) === 0) throw new InvalidArgumentError(`"${token}" is not an IP address`);
    entries.push({ address: token, scope: "region" });
  }
  return entries;
}

/** Repeatable `--advertise ADDR[,scope=region|public]`. */
export function advertiseOption(value: string, previous: AdvertiseEntry[] = []): AdvertiseEntry[] {
  const entries = parseAdvertise(value);
  if (entries.length === 0) throw new InvalidArgumentError("names no address");
  return [...previous, ...entries];
}
