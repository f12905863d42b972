// The Node control plane serves the built dashboard at /ui/: index.html revalidated, hashed assets cached for
// good, both under the page's policy; /ui redirects to /ui/; a missing build is a 503 saying how to build
// it, and a path that could leave the build directory is never read.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../worker/config";
import { startNodeServer, type NodeServer } from "../../worker/node";
import { UI_CSP, workersHeadersFile } from "../../worker/ui";

let dir: string;
let built: NodeServer;
let unbuilt: NodeServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-ui-"));
  const ui = join(dir, "ui");
  mkdirSync(join(ui, "assets"), { recursive: true });
  writeFileSync(join(ui, "index.html"), '<!doctype html><script type="module" src="/ui/assets/index-abc123.js"></script>');
  writeFileSync(join(ui, "assets", "index-abc123.js"), "console.log('dashboard');");
  writeFileSync(join(ui, "assets", "index-def456.css"), "body{}");
  writeFileSync(join(dir, "outside.txt"), "not part of the build");
  const common = { port: 0, sweep: false, config: parseConfig({}), log: () => {} };
  built = await startNodeServer({ ...common, dataDir: join(dir, "data-a"), uiDir: ui });
  unbuilt = await startNodeServer({ ...common, dataDir: join(dir, "data-b"), uiDir: join(dir, "missing") });
}, 60_000);

afterAll(async () => {
  await built?.close();
  await unbuilt?.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = (server: NodeServer, path: string) => fetch(server.url + path, { redirect: "manual" });

describe("the dashboard on Node", () => {
  it("redirects /ui to /ui/ and serves index.html there, revalidated, under the page's policy", async () => {
    const redirect = await get(built, "/ui");
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get("location")).toBe("/ui/");
    for (const path of ["/ui/", "/ui/index.html"]) {
      const res = await get(built, path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(res.headers.get("content-security-policy")).toBe(UI_CSP);
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(await res.text()).toContain("/ui/assets/index-abc123.js");
    }
    expect(UI_CSP).toContain("connect-src 'self'");
    expect(UI_CSP).toContain("script-src 'self'");
    expect(UI_CSP).not.toContain("unsafe-inline");
  });

  it("serves the hashed assets with their types, cached for good", async () => {
    const js = await get(built, "/ui/assets/index-abc123.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(js.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await js.text()).toBe("console.log('dashboard');");
    const css = await get(built, "/ui/assets/index-def456.css");
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
  });

  it("answers 404 problems for files the build does not have and for paths that would leave it", async () => {
    for (const path of ["/ui/assets/nope.js", "/ui/../outside.txt", "/ui/%2e%2e/outside.txt", "/ui/assets/..%2f..%2foutside.txt", "/ui/.hidden", "/ui//etc/passwd"]) {
      const res = await get(built, path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type"), path).toBe("application/problem+json");
      expect(await res.text(), path).not.toContain("not part of the build");
    }
  });

  it("says how to build the dashboard when it has not been built, and the API still answers", async () => {
    const res = await get(unbuilt, "/ui/");
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const problem = (await res.json()) as { type: string; detail: string };
    expect(problem.type).toBe("urn:leasehold:problem:ui-not-built");
    expect(problem.detail).toContain("npm run build:web");
    expect((await get(unbuilt, "/healthz")).status).toBe(200);
  });
});

describe("the dashboard on Workers", () => {
  it("gets the same policy and cache rules from the _headers file the build writes", () => {
    const file = workersHeadersFile();
    expect(file).toContain(`/ui/*\n  Content-Security-Policy: ${UI_CSP}\n`);
    expect(file).toMatch(/\/ui\/assets\/\*\n {2}Cache-Control: public, max-age=31536000, immutable\n/);
    expect(file).toMatch(/\/ui\/index.html\n {2}Cache-Control: no-cache\n/);
  });
});
