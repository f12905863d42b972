// The agent's newest lease per task, kept in its data directory. Container labels hold the lease a
// container was started under; renewals re-sign it later, and a restarted agent must present the newest.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface LeaseStore {
  load(): Record<string, string>;
  save(leases: Record<string, string>): void;
}

const FILE = "leases.json";

export function createLeaseStore(dataDir: string): LeaseStore {
  const path = join(dataDir, FILE);
  return {
    load() {
      try {
        return JSON.parse(readFileSync(path, "utf8")) as Record<string, string>;
      } catch {
        return {};
      }
    },
    save(leases) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(leases), { mode: 0o600 });
      renameSync(tmp, path);
    },
  };
}

/** A store that keeps nothing, for tests that do not restart the agent. */
export const memoryLeaseStore = (): LeaseStore => {
  let kept: Record<string, string> = {};
  return { load: () => ({ ...kept }), save: (l) => void (kept = { ...l }) };
};
