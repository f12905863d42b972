// Loading the control plane must not depend on which module a program happens to import first.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Imports the given repo modules in order in a fresh Node process. */
function importInOrder(modules: string[]): { status: number | null; stdout: string; stderr: string } {
  const script = `${modules.map((m) => `await import(${JSON.stringify(new URL(m, `file://${ROOT}/`).href)});`).join("\n")}\nconsole.log("loaded");`;
  const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8", timeout: 20_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("module load order", () => {
  // The contract (api/job-spec, api/agent-protocol, worker/auth/tokens…) is built with plain zod. Route modules once
  // called `.openapi()` on those schemas, which exists only if @hono/zod-openapi patched zod before they were built,
  // so a program importing the contract before worker/app died at load ("nameSchema.openapi is not a function").
  it("the app loads after the job-spec contract was imported on its own", () => {
    const run = importInOrder(["api/job-spec.ts", "api/agent-protocol.ts", "worker/auth/tokens.ts", "worker/app.ts"]);
    expect(run.stderr).not.toContain("is not a function");
    expect(run.stdout.trim()).toBe("loaded");
    expect(run.status).toBe(0);
  });
});
