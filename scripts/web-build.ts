// Builds the dashboard (web/) with Vite into web/dist/ui, copies the docs page's Swagger UI files into
// web/dist/docs/swagger-ui/<version>, and writes web/dist/_headers, the same headers for Workers static
// assets (worker/ui/policy.ts, worker/docs/policy.ts). `npm run build:web` always builds; with --if-stale
// (npm start, the browser tests) it builds only when web/dist/ui/index.html is missing or older than a
// source (web/src, web/index.html, its Vite config, or api/, which it imports), or the Swagger UI files of
// worker/docs/swagger-ui.manifest.ts are missing.
//
// Several test processes may ask at once: a lock directory lets one build while the others wait, and the
// build is written beside web/dist/ui and moved into place, so a server never serves half of one.
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { SWAGGER_UI_BASE, swaggerUiHeadersRules } from "../worker/docs/policy.ts";
import { SWAGGER_UI_VERSION, swaggerUiAssets } from "../worker/docs/swagger-ui.manifest.ts";
import { installedSwaggerUi, sha256Base64 } from "../worker/docs/swagger-ui-dist.ts";
import { workersHeadersFile } from "../worker/ui/policy.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const WEB_DIR = join(ROOT, "web");
export const WEB_DIST = join(WEB_DIR, "dist");
export const UI_DIR = join(WEB_DIST, "ui");
/** The Swagger UI files, at the path the docs page names (web/dist is the assets root). */
export const SWAGGER_UI_DIR = join(WEB_DIST, ...SWAGGER_UI_BASE.split("/").filter(Boolean));
const LOCK = join(WEB_DIR, ".build-lock");
/** A lock older than this was left by a build that died. */
const STALE_LOCK_MS = 5 * 60_000;

const SOURCES = [join(WEB_DIR, "src"), join(WEB_DIR, "index.html"), join(WEB_DIR, "vite.config.ts"), join(ROOT, "api"), join(ROOT, "worker", "ui", "policy.ts"), join(ROOT, "worker", "docs", "policy.ts"), join(ROOT, "worker", "docs", "swagger-ui.manifest.ts")];

function newestMtime(path: string): number {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Why the build must run, or null when web/dist/ui is newer than every source. */
export function webBuildStale(): string | null {
  const built = statSync(join(UI_DIR, "index.html"), { throwIfNoEntry: false });
  if (!built || !existsSync(join(WEB_DIST, "_headers"))) return "web/dist/ui has not been built";
  if (swaggerUiAssets.some((a) => !existsSync(join(SWAGGER_UI_DIR, a.name)))) return "web/dist has no Swagger UI files for this version";
  const newest = Math.max(...SOURCES.map(newestMtime));
  return newest > built.mtimeMs ? "a dashboard source changed since the last build" : null;
}

function run(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // A production build wherever it is asked for: under vitest NODE_ENV is "test", which Vite would follow.
    const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, NODE_ENV: "production" } });
    child.once("error", reject);
    child.once("exit", (code, signal) => (code === 0 ? resolve() : reject(new Error(`vite build exited with ${signal ?? code}`))));
  });
}

/**
 * Copies the manifest's files from the installed swagger-ui-dist, refusing any whose hash differs: the page
 * names them with that integrity, so a browser would refuse them too. Other versions' files go.
 */
function copySwaggerUi(): void {
  const { dir } = installedSwaggerUi();
  for (const asset of swaggerUiAssets) {
    const actual = sha256Base64(readFileSync(join(dir, asset.name)));
    if (actual !== asset.sha256) throw new Error(`the installed swagger-ui-dist's ${asset.name} does not match worker/docs/swagger-ui.manifest.ts: npm ci, or npm run docs:assets after changing its version`);
  }
  // Written beside the served directory and swapped in, like web/dist/ui, so no file is ever missing.
  const versions = join(SWAGGER_UI_DIR, "..");
  const next = `${versions}.${process.pid}-${Date.now()}`;
  mkdirSync(join(next, SWAGGER_UI_VERSION), { recursive: true });
  for (const asset of swaggerUiAssets) copyFileSync(join(dir, asset.name), join(next, SWAGGER_UI_VERSION, asset.name));
  const old = `${next}-old`;
  if (existsSync(versions)) renameSync(versions, old);
  renameSync(next, versions);
  rmSync(old, { recursive: true, force: true });
}

/** Builds into a directory of its own, then swaps it in for web/dist/ui. */
export async function buildWeb(): Promise<void> {
  const out = join(WEB_DIR, `.build-${process.pid}-${Date.now()}`);
  try {
    await run([join(ROOT, "node_modules", "vite", "bin", "vite.js"), "build", "--config", join(WEB_DIR, "vite.config.ts"), "--outDir", out, "--emptyOutDir"]);
    copySwaggerUi();
    writeFileSync(join(WEB_DIST, "_headers"), workersHeadersFile() + swaggerUiHeadersRules(swaggerUiAssets));
    const old = `${out}-old`;
    if (existsSync(UI_DIR)) renameSync(UI_DIR, old);
    renameSync(out, UI_DIR);
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

async function withLock<T>(work: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (err) {
      if ((err as { code?: unknown }).code !== "EEXIST") throw err;
      const held = statSync(LOCK, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await work();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** Builds the dashboard if it is missing or stale; returns whether it built. */
export async function ensureWebBuild(log: (line: string) => void = () => {}): Promise<boolean> {
  if (webBuildStale() === null) return false;
  return withLock(async () => {
    // Another process may have built it while this one waited.
    const why = webBuildStale();
    if (why === null) return false;
    log(`building the dashboard: ${why}`);
    await buildWeb();
    return true;
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const ifStale = process.argv.includes("--if-stale");
  const started = Date.now();
  const built = ifStale ? await ensureWebBuild((line) => console.log(line)) : await withLock(async () => (await buildWeb(), true));
  if (built) console.log(`dashboard built into web/dist/ui in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
