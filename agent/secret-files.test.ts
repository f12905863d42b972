// Secret files on the host: only ever on tmpfs, a 0700 directory per node and per container, each file with
// its own mode; the sweep keeps the live containers' directories only.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSecretFiles, defaultSecretsDir, isOnTmpfs, SecretFilesError, TMPFS_MAGIC } from "./secret-files";

/** The host's tmpfs the tests write to; a host without one fails here, saying so. */
const SHM = "/dev/shm";

let shm: string;
let disk: string;
beforeEach(() => {
  if (!existsSync(SHM) || statfsSync(SHM).type !== TMPFS_MAGIC) throw new Error(`${SHM} is not a tmpfs on this host: the secret file tests need one`);
  shm = mkdtempSync(join(SHM, "leasehold-secret-files-"));
  disk = mkdtempSync(join(tmpdir(), "leasehold-secret-files-"));
});
afterEach(() => {
  rmSync(shm, { recursive: true, force: true });
  rmSync(disk, { recursive: true, force: true });
});

const file = (path: string, mode: number, text: string) => ({ path, mode, data: Buffer.from(text).toString("base64") });
const quiet = () => undefined;
const modeOf = (path: string) => statSync(path).mode & 0o777;

describe("the secrets dir", () => {
  it("defaults to the first candidate on tmpfs, whether or not it exists yet", () => {
    if (isOnTmpfs(disk)) throw new Error(`${tmpdir()} is on tmpfs here: this test needs a disk-backed temp dir`);
    expect(defaultSecretsDir([join(disk, "secrets"), join(shm, "a", "secrets"), join(shm, "b")])).toBe(join(shm, "a", "secrets"));
    expect(defaultSecretsDir([join(disk, "secrets")])).toBeUndefined();
  });
});

describe("secret files", () => {
  it("are written 0700 per node and per container, each with its mode, and mounted at their paths", () => {
    const files = createSecretFiles({ baseDir: join(shm, "secrets"), nodeId: "node-1", warn: quiet });
    const mounts = files.write({ taskId: "task-1", epoch: 2 }, [file("/run/secrets/db-password", 0o400, "pw"), file("/etc/app/app.conf", 0o444, "conf")]);
    expect(files.dir).toBe(join(shm, "secrets", "node-1"));
    const dir = join(shm, "secrets", "node-1", "task-1.e2");
    expect(mounts).toEqual([
      { source: join(dir, "0-db-password"), target: "/run/secrets/db-password" },
      { source: join(dir, "1-app.conf"), target: "/etc/app/app.conf" },
    ]);
    for (const d of [join(shm, "secrets"), files.dir!, dir]) expect(modeOf(d)).toBe(0o700);
    expect(mounts.map((m) => [readFileSync(m.source, "utf8"), modeOf(m.source)])).toEqual([
      ["pw", 0o400],
      ["conf", 0o444],
    ]);
    if (process.getuid?.() === 0) expect(mounts.map((m) => [statSync(m.source).uid, statSync(m.source).gid])).toEqual([[0, 0], [0, 0]]);
  });

  it("write back only what is missing, and the sweep keeps only the live containers' directories", () => {
    const files = createSecretFiles({ baseDir: shm, nodeId: "node-1", warn: quiet });
    const [a] = files.write({ taskId: "a", epoch: 1 }, [file("/run/secrets/x", 0o400, "one")]);
    files.write({ taskId: "b", epoch: 1 }, [file("/run/secrets/x", 0o400, "two")]);
    expect(files.restore({ taskId: "a", epoch: 1 }, [file("/run/secrets/x", 0o400, "one")])).toBe(0);
    rmSync(join(files.dir!, "a.e1"), { recursive: true });
    expect(files.restore({ taskId: "a", epoch: 1 }, [file("/run/secrets/x", 0o400, "one")])).toBe(1);
    expect(readFileSync(a!.source, "utf8")).toBe("one");
    expect(files.sweep([{ taskId: "a", epoch: 1 }])).toBe(1);
    expect(readdirSync(files.dir!)).toEqual(["a.e1"]);
    expect(files.sweep([])).toBe(1);
    expect(readdirSync(files.dir!)).toEqual([]);
  });

  it("are refused anywhere that is not tmpfs, and without a secrets dir: nothing is written", () => {
    const onDisk = createSecretFiles({ baseDir: join(disk, "secrets"), nodeId: "node-1", warn: quiet });
    expect(() => onDisk.write({ taskId: "t", epoch: 1 }, [file("/run/secrets/x", 0o400, "pw")])).toThrow(SecretFilesError);
    expect(() => onDisk.write({ taskId: "t", epoch: 1 }, [file("/run/secrets/x", 0o400, "pw")])).toThrow(/is not on tmpfs/);
    expect(readdirSync(disk)).toEqual([]);
    const none = createSecretFiles({ baseDir: undefined, nodeId: "node-1", warn: quiet });
    expect(() => none.write({ taskId: "t", epoch: 1 }, [file("/run/secrets/x", 0o400, "pw")])).toThrow(/no tmpfs directory for secret files/);
  });

  it("refuse paths that are not clean and absolute, or given twice", () => {
    const files = createSecretFiles({ baseDir: shm, nodeId: "n", warn: quiet });
    for (const path of ["run/secrets/x", "/run/../etc/shadow", "/", "/run/secrets/"]) {
      expect(() => files.write({ taskId: "t", epoch: 1 }, [file(path, 0o400, "pw")])).toThrow(/not a clean absolute path/);
    }
    expect(() => files.write({ taskId: "t", epoch: 1 }, [file("/a", 0o400, "1"), file("/a", 0o400, "2")])).toThrow(/given twice/);
  });
});
