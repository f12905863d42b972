// The files of sealed task payloads (secret files, rendered config files) on the host: written only to tmpfs,
// one directory per container under one directory per node, and bind-mounted read-only into the container.
//
// Invariants: nothing is written to a directory that is not on tmpfs (statfs says so), so the plaintext
// never reaches the host's disk; directories are 0700, each file has its payload's mode and belongs to root
// (the agent's own user under rootless Docker, where that user is root in the container); a container's
// directory is named by its task and epoch (a task has at most one container per epoch); no file's content
// is ever logged or put in an error message.
import { createHash } from "node:crypto";
import { closeSync, existsSync, fchmodSync, fchownSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { basename, dirname, join, posix } from "node:path";
import type { SealedFile } from "../api/sealed";
import { ensurePrivateDir, type TightenedWarning } from "../lib/private-files";
import type { FileMount } from "./runtime";

/** statfs f_type of tmpfs (linux/magic.h). */
export const TMPFS_MAGIC = 0x01021994;

/** Where secret files go unless the agent is told: the first of these on tmpfs (/run is one on most systemd hosts). */
export const DEFAULT_SECRETS_DIRS = ["/run/leasehold/secrets", "/dev/shm/leasehold/secrets"] as const;

/** Which container a directory is for: its task and the lease epoch it runs under. */
export type ContainerKey = { taskId: string; epoch: number };

export class SecretFilesError extends Error {
  override name = "SecretFilesError";
}

/** Whether `path`, or the nearest ancestor of it that exists (where it would be made), is on tmpfs. */
export function isOnTmpfs(path: string): boolean {
  let at = path;
  while (!existsSync(at)) {
    const up = dirname(at);
    if (up === at) return false;
    at = up;
  }
  return statfsSync(at).type === TMPFS_MAGIC;
}

/** The first of `candidates` on tmpfs, or undefined when none is. */
export function defaultSecretsDir(candidates: readonly string[] = DEFAULT_SECRETS_DIRS): string | undefined {
  return candidates.find((dir) => isOnTmpfs(dir));
}

export interface SecretFiles {
  /** The node's directory (under the secrets dir), or undefined when the agent has no tmpfs for secrets. */
  readonly dir: string | undefined;
  /** Writes the container's files afresh (whatever its directory held is replaced); returns their mounts. */
  write(key: ContainerKey, files: SealedFile[]): FileMount[];
  /** Writes those of the container's files that are missing (tmpfs emptied by a reboot); returns how many. */
  restore(key: ContainerKey, files: SealedFile[]): number;
  /** Removes the directories of every container not in `live`; returns how many went. */
  sweep(live: Iterable<ContainerKey>): number;
}

/** A path segment from an id: the id itself when it is a plain one, else its hash. */
function segment(id: string): string {
  return /^[A-Za-z0-9_-]{1,100}$/.test(id) ? id : `h-${createHash("sha256").update(id).digest("hex").slice(0, 32)}`;
}

const dirName = (key: ContainerKey) => `${segment(key.taskId)}.e${key.epoch}`;

/** The host file of the payload's `index`-th file: numbered, so two files of one name in the container never collide. */
const fileName = (index: number, path: string) => `${index}-${basename(path).replace(/[^A-Za-z0-9._-]/g, "_") || "file"}`;

/** A payload's file goes to one clean absolute path in the container, and to no path twice. */
function checkTargets(files: SealedFile[]): void {
  const seen = new Set<string>();
  for (const f of files) {
    if (!f.path.startsWith("/") || f.path.endsWith("/") || posix.normalize(f.path) !== f.path || f.path.includes("\0")) {
      throw new SecretFilesError(`sealed file path ${JSON.stringify(f.path)} is not a clean absolute path`);
    }
    if (seen.has(f.path)) throw new SecretFilesError(`sealed file path ${f.path} is given twice`);
    seen.add(f.path);
  }
}

/**
 * `baseDir` is the agent's secrets dir (undefined: none on tmpfs); files go under a directory per node in it,
 * so agents of several nodes on one host keep apart.
 */
export function createSecretFiles(opts: { baseDir: string | undefined; nodeId: string; warn: TightenedWarning }): SecretFiles {
  const nodeDir = opts.baseDir !== undefined ? join(opts.baseDir, segment(opts.nodeId)) : undefined;
  const asRoot = process.getuid?.() === 0;

  /** The container's directory, made 0700 (and its parents) once it is known to be on tmpfs. */
  function containerDir(key: ContainerKey): string {
    if (nodeDir === undefined) {
      throw new SecretFilesError(`no tmpfs directory for secret files (${DEFAULT_SECRETS_DIRS.join(" or ")}): give the agent one with --secrets-dir`);
    }
    const dir = join(nodeDir, dirName(key));
    const refuse = () =>
      new SecretFilesError(`${opts.baseDir} is not on tmpfs: secret files are written to memory only, never to disk (give the agent a tmpfs directory with --secrets-dir)`);
    // Checked before anything is made, and again on the directory itself (a symlink or a mount in between).
    if (!isOnTmpfs(dir)) throw refuse();
    ensurePrivateDir(nodeDir, opts.warn);
    ensurePrivateDir(dir, opts.warn);
    if (statfsSync(dir).type !== TMPFS_MAGIC) throw refuse();
    return dir;
  }

  /** Writes one file with exactly its mode (whatever the umask), as root's, through a temp file renamed into place. */
  function writeFile(path: string, file: SealedFile): void {
    const tmp = `${path}.tmp`;
    rmSync(tmp, { force: true });
    const fd = openSync(tmp, "wx", 0o600);
    try {
      if (asRoot) fchownSync(fd, 0, 0);
      writeFileSync(fd, Buffer.from(file.data, "base64"));
      fchmodSync(fd, file.mode);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  }

  return {
    dir: nodeDir,
    write(key, files) {
      checkTargets(files);
      const dir = containerDir(key);
      for (const entry of readdirSync(dir)) rmSync(join(dir, entry), { recursive: true, force: true });
      return files.map((f, i) => {
        const source = join(dir, fileName(i, f.path));
        writeFile(source, f);
        return { source, target: f.path };
      });
    },
    restore(key, files) {
      checkTargets(files);
      const dir = containerDir(key);
      let written = 0;
      files.forEach((f, i) => {
        const source = join(dir, fileName(i, f.path));
        if (existsSync(source)) return;
        writeFile(source, f);
        written++;
      });
      return written;
    },
    sweep(live) {
      if (nodeDir === undefined) return 0;
      const keep = new Set([...live].map(dirName));
      let entries: string[];
      try {
        entries = readdirSync(nodeDir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
        throw err;
      }
      let removed = 0;
      for (const entry of entries) {
        if (keep.has(entry)) continue;
        rmSync(join(nodeDir, entry), { recursive: true, force: true });
        removed++;
      }
      return removed;
    },
  };
}

/** A SecretFiles that writes nothing: every write fails (tests and agents without secrets). */
export function noSecretFiles(): SecretFiles {
  return createSecretFiles({ baseDir: undefined, nodeId: "none", warn: () => undefined });
}
