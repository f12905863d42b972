// The agent's newest lease per task, kept in its data directory. Container labels hold the lease a
// container was started under; renewals re-sign it later, and a restarted agent must present the newest.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

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

function readJson<T>(path: string, empty: T): T {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return empty;
  }
}

function writeJson(dataDir: string, path: string, value: unknown): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
  renameSync(tmp, path);
}

export function createLeaseStore(dataDir: string): LeaseStore {
  const path = join(dataDir, FILE);
  const fences = join(dataDir, FENCES);
  return {
    load: () => readJson<Record<string, string>>(path, {}),
    save: (leases) => writeJson(dataDir, path, leases),
    loadFences: () => readJson<Record<string, number>>(fences, {}),
    saveFences: (f) => writeJson(dataDir, fences, f),
    loadContact: () => {
      const at = readJson<{ at?: unknown }>(join(dataDir, CONTACT), {}).at;
      return typeof at === "number" && Number.isFinite(at) ? at : null;
    },
    saveContact: (at) => writeJson(dataDir, join(dataDir, CONTACT), { at }),
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
