import { beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey, jwks, type SigningKeys } from "../worker/auth/keys";
import { generateNodeKeyPair, openSealed, sealFor, SealError, type SealedContent } from "./sealed";

const content: SealedContent = {
  v: 1,
  taskId: "task-a",
  ph: "hash-a",
  files: [{ path: "/run/secrets/db-password", mode: 0o400, data: btoa("s3cret-marker") }],
  env: { API_KEY: "k-marker" },
};

let signer: SigningKeys;
let trusted: { keys: import("jose").JWK[] };
beforeAll(async () => {
  signer = (await generateSigningKey()).keys;
  trusted = jwks(signer);
});

describe("sealed task secrets", () => {
  it("open with the node's own key, for the task and payload they were sealed for", async () => {
    const a = await generateNodeKeyPair();
    const sealed = await sealFor(a.publicJwk, content, signer);
    expect(sealed).not.toContain("marker");
    expect(sealed.split(".")).toHaveLength(3);
    expect(await openSealed(a.privateJwk, sealed, { taskId: "task-a", ph: "hash-a" }, trusted)).toEqual(content);
    // A fresh ephemeral key per seal: the same content never seals to the same text twice.
    expect(await sealFor(a.publicJwk, content, signer)).not.toBe(sealed);
  });

  it("do not open with another node's key", async () => {
    const a = await generateNodeKeyPair();
    const b = await generateNodeKeyPair();
    expect(b.publicJwk.x).not.toBe(a.publicJwk.x);
    const sealed = await sealFor(a.publicJwk, content, signer);
    await expect(openSealed(b.privateJwk, sealed, { taskId: "task-a", ph: "hash-a" }, trusted)).rejects.toThrow(/do not open/);
  });

  it("are refused when another key signed them, though they were encrypted to this node", async () => {
    const a = await generateNodeKeyPair();
    const other = (await generateSigningKey()).keys;
    const forged = await sealFor(a.publicJwk, content, other);
    await expect(openSealed(a.privateJwk, forged, { taskId: "task-a", ph: "hash-a" }, trusted)).rejects.toThrow(/not signed by this control plane/);
  });

  it("are refused for another task or payload, and the error quotes nothing of the content", async () => {
    const a = await generateNodeKeyPair();
    const sealed = await sealFor(a.publicJwk, content, signer);
    const err = await openSealed(a.privateJwk, sealed, { taskId: "task-b", ph: "hash-a" }, trusted).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SealError);
    expect(String((err as Error).message)).not.toContain("marker");
    await expect(openSealed(a.privateJwk, sealed, { taskId: "task-a", ph: "hash-b" }, trusted)).rejects.toThrow(/another task or payload/);
  });

  it("refuse a tampered payload", async () => {
    const a = await generateNodeKeyPair();
    const parts = (await sealFor(a.publicJwk, content, signer)).split(".");
    const body = parts[1]!;
    parts[1] = (body[0] === "A" ? "B" : "A") + body.slice(1);
    await expect(openSealed(a.privateJwk, parts.join("."), { taskId: "task-a", ph: "hash-a" }, trusted)).rejects.toThrow(SealError);
  });
});
