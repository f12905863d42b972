// The Worker bundles: `wrangler deploy --dry-run` succeeds, the gzip size stays within Workers' limits, and the
// bundle itself (run in Miniflare's workerd, behind the assets router as wrangler.toml has it) serves /docs,
// no CDN. The dashboard and Swagger UI's files go as static assets beside it (wrangler.toml's [assets]),
// served before the Worker runs, so the bundle carries neither.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, expect, it } from "vitest";
import { generateSigningKey } from "../../worker/auth/keys";
import { SWAGGER_UI_VERSION } from "../../worker/docs";
import { UI_CSP } from "../../worker/ui";
import { ensureWebBuild, WEB_DIST } from "../../scripts/web-build";
import { visitDocs } from "../docs/browser";
import { launchChromium } from "../support/chromium";

let out: string;
let bundle: string;
let stdout: string;

beforeAll(async () => {
  // wrangler refuses a config whose assets directory is missing.
  await ensureWebBuild((line) => console.log(line));
  out = mkdtempSync(join(tmpdir(), "leasehold-bundle-"));
  ({ stdout } = await promisify(execFile)(join("node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", out], {
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
    timeout: 120_000,
  }));
  const file = readdirSync(out).find((f) => f.endsWith(".js"));
  if (!file) throw new Error(`wrangler wrote no .js file to ${out}`);
  bundle = join(out, file);
}, 150_000);

afterAll(() => rmSync(out, { recursive: true, force: true }));

it("bundles the Worker entry with wrangler deploy --dry-run", () => {
  expect(stdout).toContain("--dry-run: exiting now.");
  expect(stdout).toMatch(/Read \d+ files from the assets directory .*web\/dist/);
  const text = readFileSync(bundle, "utf8");
  const gzipKiB = gzipSync(text).length / 1024;
  console.log(`worker bundle: ${gzipKiB.toFixed(1)} KiB gzip`);
  // The Workers free plan allows 3 MiB compressed.
  expect(gzipKiB).toBeLessThan(3 * 1024);
  // The page names the pinned Swagger UI, whose code is not in the bundle (this is its UMD export); nothing
  // points the page at a CDN.
  expect(text).toContain(`SWAGGER_UI_VERSION = "${SWAGGER_UI_VERSION}"`);
  expect(text).not.toContain("exports.SwaggerUIBundle=");
  expect(text).not.toContain("swagger-ui-bundle.js.LICENSE.txt");
  expect(text).not.toContain("cdn.jsdelivr.net");
  expect(text).not.toContain("unpkg.com/swagger-ui");
  // The dashboard is not in it: its files are assets.
  expect(text).not.toContain("Sign in to leasehold");
});

it("the bundled Worker serves /docs, with Swagger UI from the assets, that renders offline in Chromium under its policy", async () => {
  const wrangler = readFileSync("wrangler.toml", "utf8");
  const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(wrangler)?.[1];
  expect(compatibilityDate).toBeDefined();
  const { privateJwk } = await generateSigningKey();
  const mf = new Miniflare({
    modules: true,
    scriptPath: bundle,
    modulesRoot: out,
    compatibilityDate: compatibilityDate!,
    compatibilityFlags: ["nodejs_compat"],
    // /docs and /openapi.json never touch the database; nothing listens on this port.
    bindings: { LIBSQL_URL: "http://127.0.0.1:9", LEASEHOLD_SIGNING_KEY: JSON.stringify(privateJwk) },
    // As wrangler.toml has it: the router answers for files of web/dist, the Worker for everything else.
    assets: { directory: WEB_DIST, routerConfig: { has_user_worker: true } },
    host: "127.0.0.1",
    port: 0,
  });
  const browser = await launchChromium();
  try {
    const url = (await mf.ready).origin;
    const file = await fetch(`${url}/docs/swagger-ui/${SWAGGER_UI_VERSION}/swagger-ui-bundle.js`);
    expect(file.status).toBe(200);
    expect(file.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(file.headers.get("x-content-type-options")).toBe("nosniff");
    await file.body?.cancel();
    const visit = await visitDocs(browser, url, "Apply a job spec");
    expect(visit.status).toBe(200);
    expect(visit.offLoopback).toEqual([]);
    expect(visit.problems).toEqual([]);
    expect(visit.loopback).toContain(`/docs/swagger-ui/${SWAGGER_UI_VERSION}/swagger-ui-bundle.js`);
    expect(visit.summaries).toEqual(expect.arrayContaining([expect.stringContaining("Apply a job spec"), "List the namespaces the token can see"]));
    expect(visit.paths).toContain("/v1/jobs");
  } finally {
    await browser.close();
    await mf.dispose();
  }
}, 120_000);

it("serves the dashboard as static assets beside the bundled Worker, rendering in Chromium under its policy", async () => {
  const { privateJwk } = await generateSigningKey();
  const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(readFileSync("wrangler.toml", "utf8"))?.[1];
  const mf = new Miniflare({
    modules: true,
    scriptPath: bundle,
    modulesRoot: out,
    compatibilityDate: compatibilityDate!,
    compatibilityFlags: ["nodejs_compat"],
    bindings: { LIBSQL_URL: "http://127.0.0.1:9", LEASEHOLD_SIGNING_KEY: JSON.stringify(privateJwk) },
    // As wrangler.toml has it: the router answers for files of web/dist, the Worker for everything else.
    assets: { directory: WEB_DIST, routerConfig: { has_user_worker: true } },
    host: "127.0.0.1",
    port: 0,
  });
  const browser = await launchChromium();
  try {
    const url = (await mf.ready).origin;
    const index = await fetch(`${url}/ui/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-security-policy")).toBe(UI_CSP);
    expect(index.headers.get("cache-control")).toBe("no-cache");
    // Paths the build has no file for reach the Worker, which answers for itself.
    const missing = await fetch(`${url}/ui/assets/missing.js`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toBe("application/problem+json");
    expect((await fetch(`${url}/openapi.json`)).status).toBe(200);

    const page = await browser.newPage();
    const problems: string[] = [];
    const offLoopback: string[] = [];
    page.on("request", (r) => {
      if (new URL(r.url()).hostname !== "127.0.0.1" && !r.url().startsWith("data:")) offLoopback.push(r.url());
    });
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));
    });
    await page.goto(`${url}/ui/`);
    await page.getByRole("heading", { name: "Sign in to leasehold" }).waitFor({ timeout: 30_000 });
    expect(await page.getByLabel("Operator token").count()).toBe(1);
    expect(problems).toEqual([]);
    expect(offLoopback).toEqual([]);
  } finally {
    await browser.close();
    await mf.dispose();
  }
}, 120_000);
