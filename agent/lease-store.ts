// The agent's newest lease per task, with its payload, kept in its data directory. Container labels hold
// the lease (and payload) a container was started under; renewals re-sign it later, and a restarted agent
// must present the newest. A restarted agent checks each pair again before it acts on it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { TaskSpec } from "../api/agent-protocol";
import { ensurePrivateDir, tightenPrivateFile, writePrivateFile, type TightenedWarning } from "../lib/private-files";
import { warnOnStderr } from "./identity";

/** A lease token and the payload it was granted with (the token's `ph` is the payload's hash). */
export interface StoredLease {
  lease: string;
  task: TaskSpec;
  /**
   * A sealed task's secrets as they came beside the lease: the JWE, which only this node's key opens. It is
   * kept so that a restarted agent, even offline, can write the task's files again; what it opens to never is.
   */
  sealed?: string;
}

export interface LeaseStore {
  /** Per task; entries of another shape (a bare token, from before payloads moved beside tokens) are dropped. */
  load(): Record<string, StoredLease>;
  save(leases: Record<string, StoredLease>): void;
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

/** The entries shaped as a token with its payload; whether they verify is the lease checker's business. */
function storedLeases(value: unknown): Record<string, StoredLease> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, StoredLease] => {
      const v: unknown = entry[1];
      if (typeof v !== "object" || v === null) return false;
      const { lease, task, sealed } = v as Partial<Record<keyof StoredLease, unknown>>;
      return typeof lease === "string" && typeof task === "object" && task !== null && (sealed === undefined || typeof sealed === "string");
    }),
  );
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
    load: () => storedLeases(readJson<unknown>(path, {}, warn)),
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
  let kept: Record<string, StoredLease> = {};
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
