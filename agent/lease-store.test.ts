// leases.json keeps each lease with its payload; a file of another shape is read as no leases, not a crash.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TaskSpec } from "../api/agent-protocol";
import { createLeaseStore } from "./lease-store";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-lease-store-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const task = { image: "img" } as unknown as TaskSpec;
const quiet = () => undefined;

describe("the lease store", () => {
  it("keeps each lease token beside its payload", () => {
    const store = createLeaseStore(dir, quiet);
    store.save({ t1: { lease: "token-1", task } });
    expect(createLeaseStore(dir, quiet).load()).toEqual({ t1: { lease: "token-1", task } });
  });

  it("keeps a sealed task's JWE beside its lease, and drops an entry whose sealed member is not one", () => {
    const store = createLeaseStore(dir, quiet);
    store.save({ t1: { lease: "token-1", task, sealed: "a.b.c.d.e" }, t2: { lease: "token-2", task, sealed: 7 as unknown as string } });
    expect(createLeaseStore(dir, quiet).load()).toEqual({ t1: { lease: "token-1", task, sealed: "a.b.c.d.e" } });
  });

  it("drops entries of the older shape (a bare token, its task spec inside it) and keeps the rest", () => {
    writeFileSync(join(dir, "leases.json"), JSON.stringify({ old: "eyJhbGciOiJFZERTQSJ9.e30.sig", t1: { lease: "token-1", task }, half: { lease: "token-2" }, odd: { lease: 3, task } }), { mode: 0o600 });
    expect(createLeaseStore(dir, quiet).load()).toEqual({ t1: { lease: "token-1", task } });
  });

  it("reads a file that is not a map of leases as none", () => {
    for (const text of ["[]", "null", "\"token\"", "{not json"]) {
      writeFileSync(join(dir, "leases.json"), text, { mode: 0o600 });
      expect(createLeaseStore(dir, quiet).load()).toEqual({});
    }
  });
});
