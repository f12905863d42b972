// The Worker bundles: `wrangler deploy --dry-run` succeeds and the gzip size stays within Workers' limits.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { expect, it } from "vitest";

it("bundles the Worker entry with wrangler deploy --dry-run", async () => {
  const out = mkdtempSync(join(tmpdir(), "leasehold-bundle-"));
  try {
    const { stdout } = await promisify(execFile)(join("node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", out], {
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
      timeout: 120_000,
    });
    expect(stdout).toContain("--dry-run: exiting now.");
    const file = readdirSync(out).find((f) => f.endsWith(".js"));
    expect(file).toBeDefined();
    const gzipKiB = gzipSync(readFileSync(join(out, file!))).length / 1024;
    console.log(`worker bundle: ${gzipKiB.toFixed(1)} KiB gzip`);
    // The Workers free plan allows 3 MiB compressed.
    expect(gzipKiB).toBeLessThan(3 * 1024);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 150_000);
