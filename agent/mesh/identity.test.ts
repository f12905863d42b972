// The mesh identity on disk: the key is made once (0600) and kept, a certificate is checked to be for it,
// kept across a restart, and asked for again past half its life.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateSigningKey } from "../../worker/auth/keys";
import { issueNodeCertificate } from "../../worker/mesh/certificates";
import { loadOrCreateMeshIdentity } from "./identity";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-mesh-id-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const HOUR = 3_600_000;

describe("the mesh identity", () => {
  it("is due without a certificate, not while one is young, and again past half its life; it survives a restart", async () => {
    const { keys } = await generateSigningKey();
    const warnings: string[] = [];
    const id = loadOrCreateMeshIdentity(dir, (m) => warnings.push(m));
    expect(statSync(join(dir, "mesh-key.pem")).mode & 0o777).toBe(0o600);
    const now = Date.now();
    expect(id.due(now)).toBe(true);
    id.accept(await issueNodeCertificate(keys, "node-1", id.publicJwk, now, HOUR));
    // Valid from a minute before issue: half its life is 30.5 minutes on.
    expect(id.due(now + 29 * 60_000)).toBe(false);
    expect(id.due(now + 31 * 60_000)).toBe(true);

    const again = loadOrCreateMeshIdentity(dir, (m) => warnings.push(m));
    expect(again.publicJwk).toEqual(id.publicJwk);
    expect(again.certificate()?.certificate).toBe(id.certificate()?.certificate);
    expect(again.due(now)).toBe(false);
    expect(warnings).toEqual([]);
  });

  it("refuses a certificate for another key, and keeps the one it held", async () => {
    const { keys } = await generateSigningKey();
    const id = loadOrCreateMeshIdentity(dir, () => undefined);
    const mine = await issueNodeCertificate(keys, "node-1", id.publicJwk, Date.now(), HOUR);
    id.accept(mine);
    const other = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" });
    await expect(async () => id.accept(await issueNodeCertificate(keys, "node-1", other, Date.now(), HOUR))).rejects.toThrow(/not for this node's mesh key/);
    expect(id.certificate()?.certificate).toBe(mine.certificate);
  });
});
