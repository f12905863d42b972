import { describe, expect, it } from "vitest";
import { generateNodeKeyPair, openSealed, sealFor, SealError, type SealedContent } from "./sealed";

const content: SealedContent = {
  v: 1,
  taskId: "task-a",
  ph: "hash-a",
  files: [{ path: "/run/secrets/db-password", mode: 0o400, data: btoa("s3cret-marker") }],
  env: { API_KEY: "k-marker" },
};

describe("sealed task secrets", () => {
  it("open with the node's own key, for the task and payload they were sealed for", async () => {
    const a = await generateNodeKeyPair();
    const jwe = await sealFor(a.publicJwk, content);
    expect(jwe).not.toContain("marker");
    expect(jwe.split(".")).toHaveLength(5);
    expect(await openSealed(a.privateJwk, jwe, { taskId: "task-a", ph: "hash-a" })).toEqual(content);
    // A fresh ephemeral key per seal: the same content never seals to the same text twice.
    expect(await sealFor(a.publicJwk, content)).not.toBe(jwe);
  });

  it("do not open with another node's key", async () => {
    const a = await generateNodeKeyPair();
    const b = await generateNodeKeyPair();
    expect(b.publicJwk.x).not.toBe(a.publicJwk.x);
    const jwe = await sealFor(a.publicJwk, content);
    await expect(openSealed(b.privateJwk, jwe, { taskId: "task-a", ph: "hash-a" })).rejects.toThrow(SealError);
  });

  it("are refused for another task or payload, and the error quotes nothing of the content", async () => {
    const a = await generateNodeKeyPair();
    const jwe = await sealFor(a.publicJwk, content);
    const err = await openSealed(a.privateJwk, jwe, { taskId: "task-b", ph: "hash-a" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SealError);
    expect(String((err as Error).message)).not.toContain("marker");
    await expect(openSealed(a.privateJwk, jwe, { taskId: "task-a", ph: "hash-b" })).rejects.toThrow(/another task or payload/);
  });

  it("refuse a tampered ciphertext", async () => {
    const a = await generateNodeKeyPair();
    const parts = (await sealFor(a.publicJwk, content)).split(".");
    const ct = parts[3]!;
    parts[3] = (ct[0] === "A" ? "B" : "A") + ct.slice(1);
    await expect(openSealed(a.privateJwk, parts.join("."), { taskId: "task-a", ph: "hash-a" })).rejects.toThrow(SealError);
  });
});
