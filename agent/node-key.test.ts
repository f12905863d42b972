// The node key file: made once, 0600, read back the same; a file that holds no X25519 private key is an
// error, never silently replaced (payloads sealed to the key on file would stop opening).
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSealed, sealFor } from "../api/sealed";
import { generateSigningKey, jwks } from "../worker/auth/keys";
import { loadNodeKey, loadOrCreateNodeKey, NODE_KEY_FILE } from "./node-key";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-node-key-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const quiet = () => undefined;

describe("the node key file", () => {
  it("is made once, owner-only, and read back as the same key pair, which opens what is sealed to it", async () => {
    expect(loadNodeKey(dir, quiet)).toBeUndefined();
    const made = await loadOrCreateNodeKey(dir, quiet);
    expect(made.created).toBe(true);
    expect(statSync(join(dir, NODE_KEY_FILE)).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateNodeKey(dir, quiet);
    expect(again).toEqual({ key: made.key, created: false });
    expect(again.key.publicJwk).not.toHaveProperty("d");
    const content = { v: 1 as const, taskId: "t", ph: "p", files: [], env: { K: "v" } };
    const signer = (await generateSigningKey()).keys;
    expect(await openSealed(again.key.privateJwk, await sealFor(made.key.publicJwk, content, signer), { taskId: "t", ph: "p" }, jwks(signer))).toEqual(content);
  });

  it("is tightened when found readable by others, and refused when it holds no X25519 private key", async () => {
    const { key } = await loadOrCreateNodeKey(dir, quiet);
    const path = join(dir, NODE_KEY_FILE);
    chmodSync(path, 0o644);
    const warned: string[] = [];
    expect(loadNodeKey(dir, (m) => warned.push(m))).toEqual(key);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(warned).toHaveLength(1);
    const { d: _d, ...publicOnly } = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    writeFileSync(path, JSON.stringify(publicOnly), { mode: 0o600 });
    await expect(loadOrCreateNodeKey(dir, quiet)).rejects.toThrow(/does not hold an X25519 private key/);
  });
});
