// Owner-only directories and files for state on disk (the control plane's data dir, the agent's state dir):
// they hold keys, credentials, job specs with their env values, log tails and the audit trail.
//
// Directories are 0700 and files 0600 whatever the process umask. A directory or file found looser (made by
// an older version, or by hand) is tightened, and the caller is told so it can warn. Shared directories
// (the sticky bit, as /tmp has) are refused rather than tightened: closing one would lock out its other users.
// Used by db/, worker/ and agent/ alike, so it imports nothing of ours.
import { chmodSync, closeSync, fchmodSync, fstatSync, mkdirSync, openSync, renameSync, statSync, writeFileSync } from "node:fs";

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Told when something on disk was found readable by others and has been tightened. */
export type TightenedWarning = (message: string) => void;

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;

/** Creates `dir` (and missing parents) 0700, or tightens an existing one that group or others can read or enter. */
export function ensurePrivateDir(dir: string, warn: TightenedWarning): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  tightenDir(dir, warn);
}

/** Tightens `dir` if it exists; returns whether it does. Creates nothing. */
export function tightenPrivateDir(dir: string, warn: TightenedWarning): boolean {
  try {
    tightenDir(dir, warn);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

function tightenDir(dir: string, warn: TightenedWarning): void {
  const { mode } = statSync(dir);
  if ((mode & 0o077) === 0) return;
  if (mode & 0o1000) throw new Error(`${dir} is a shared directory (sticky bit set): give the data its own directory`);
  chmodSync(dir, PRIVATE_DIR_MODE);
  warn(`${dir} was readable by other users (mode ${octal(mode)}); it is now ${octal(PRIVATE_DIR_MODE)}`);
}

/** Tightens `path` to 0600 if it exists and others can read it; returns whether it exists. */
export function tightenPrivateFile(path: string, warn: TightenedWarning): boolean {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
  if ((mode & 0o077) !== 0) {
    chmodSync(path, PRIVATE_FILE_MODE);
    warn(`${path} was readable by other users (mode ${octal(mode)}); it is now ${octal(PRIVATE_FILE_MODE)}`);
  }
  return true;
}

/** Creates an empty 0600 file if `path` is missing (an existing one is tightened instead; its content is kept). */
export function ensurePrivateFile(path: string, warn: TightenedWarning): void {
  if (tightenPrivateFile(path, warn)) return;
  try {
    // "wx": a file another process made in the meantime is theirs; it is checked below like any other.
    closeSync(openSync(path, "wx", PRIVATE_FILE_MODE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    tightenPrivateFile(path, warn);
  }
}

/**
 * Writes `data` to `path` with owner-only permissions. By default it replaces the file atomically (a 0600
 * temp file renamed over it); with `exclusive` it creates the file and fails with EEXIST if one is there.
 */
export function writePrivateFile(path: string, data: string, opts: { exclusive?: boolean } = {}): void {
  if (opts.exclusive) {
    writeTo(path, "wx", data);
    return;
  }
  const tmp = `${path}.${process.pid}.tmp`;
  writeTo(tmp, "w", data);
  renameSync(tmp, path);
}

function writeTo(path: string, flag: "w" | "wx", data: string): void {
  const fd = openSync(path, flag, PRIVATE_FILE_MODE);
  try {
    // The mode given to open applies only to a file it creates: a leftover temp file keeps its own.
    if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, PRIVATE_FILE_MODE);
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}
