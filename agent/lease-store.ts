// The agent's newest lease per task, kept in its data directory. Container labels hold the lease a
// container was started under; renewals re-sign it later, and a restarted agent must present the newest.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ensurePrivateDir, tightenPrivateFile, writePrivateFile, type TightenedWarning } from "../lib/private-files";
import { warnOnStderr } from "./identity";

export interface LeaseStore {
  load(): Record<string, string>;
  save(leases: Record<string, string>): void;
  /** Per task, the highest epoch this agent was told is fenced or has ended: never run at or below it. */
  loadFences(): Record<string, number>;
  saveFences(fences: Record<string, number>): void;
  /** When the control plane last answered (wall clock, ms): a restarted agent counts its disconnection from it. */
  loadContact(): number | null;
  saveContact(at: number): void;
}

const FILE = "leases.json";
const FENCES = "fences.json";
const CONTACT = "contact.json";

function readJson<T>(path: string, empty: T, warn: TightenedWarning): T {
  // Outside the catch: a file that cannot be made private is an error to see, not an empty store.
  tightenPrivateFile(path, warn);
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return empty;
  }
}

/** Files written owner-only (temp file + rename); a state dir or file found readable by others is tightened. */
export function createLeaseStore(dataDir: string, warn: TightenedWarning = warnOnStderr): LeaseStore {
  const path = join(dataDir, FILE);
  const fences = join(dataDir, FENCES);
  const contact = join(dataDir, CONTACT);
  const writeJson = (file: string, value: unknown) => {
    ensurePrivateDir(dataDir, warn);
    writePrivateFile(file, JSON.stringify(value));
  };
  return {
    load: () => readJson<Record<string, string>>(path, {}, warn),
    save: (leases) => writeJson(path, leases),
    loadFences: () => readJson<Record<string, number>>(fences, {}, warn),
    saveFences: (f) => writeJson(fences, f),
    loadContact: () => {
      const at = readJson<{ at?: unknown }>(contact, {}, warn).at;
      return typeof at === "number" && Number.isFinite(at) ? at : null;
    },
    saveContact: (at) => writeJson(contact, { at }),
  };
}

/** A store that keeps nothing, for tests that do not restart the agent. */
export const memoryLeaseStore = (): LeaseStore => {
  let kept: Record<string, string> = {};
  let fences: Record<string, number> = {};
  let contact: number | null = null;
  return {
    load: () => ({ ...kept }),
    save: (l) => void (kept = { ...l }),
    loadFences: () => ({ ...fences }),
    saveFences: (f) => void (fences = { ...f }),
    loadContact: () => contact,
    saveContact: (at) => void (contact = at),
  };
};
