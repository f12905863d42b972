// The Swagger UI files /docs serves: the committed manifest is what scripts/docs-assets.ts writes from the
// pinned swagger-ui-dist, and the Node routes serve those bytes, named by the page with matching integrity,
// and refuse a file whose hash differs from the manifest's.
import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installedSwaggerUi, MANIFEST_MODULE, renderManifestModule } from "../../scripts/docs-assets";
import { registerSwaggerUiRoutes, SWAGGER_UI_VERSION } from "../../worker/docs";
import { swaggerUiFilesFromDir } from "../../worker/docs/node-files";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";

let cp: TestControlPlane;
let dir: string;
beforeAll(async () => {
  cp = await createTestControlPlane();
  // As worker/node.ts registers them: after the app is built.
  registerSwaggerUiRoutes(cp.app, swaggerUiFilesFromDir());
  dir = mkdtempSync(join(tmpdir(), "leasehold-swagger-ui-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  return cp.close();
});

describe("docs assets", () => {
  it("are generated from the swagger-ui-dist version package.json pins (npm run docs:assets after a bump)", () => {
    const pinned = (JSON.parse(readFileSync("package.json", "utf8")) as { dependencies: Record<string, string> }).dependencies["swagger-ui-dist"];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(installedSwaggerUi().version).toBe(pinned);
    expect(SWAGGER_UI_VERSION).toBe(pinned);
    const committed = readFileSync(MANIFEST_MODULE, "utf8");
    expect(committed === renderManifestModule()).toBe(true);
    // A manifest, not the files: the Worker bundle carries only this.
    expect(committed.length).toBeLessThan(2_000);
  });

  it("are served from this origin, byte for byte, with the integrity the page names", async () => {
    const page = await cp.call("GET", "/docs", { token: null });
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).toContain('data-openapi-url="/openapi.json"');
    const refs = [...html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"(?: integrity="sha256-([^"]+)")?/g)].map(([, path, integrity]) => ({ path: path!, integrity }));
    expect(refs.map((r) => r.path).sort()).toEqual([`/docs/swagger-ui/${SWAGGER_UI_VERSION}/swagger-ui-bundle.js`, `/docs/swagger-ui/${SWAGGER_UI_VERSION}/swagger-ui.css`, "/docs/init.js"].sort());
    const { dir: dist } = installedSwaggerUi();
    for (const { path, integrity } of refs) {
      const res = await cp.call("GET", path, { token: null });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      const body = await res.text();
      const name = path.split("/").pop()!;
      if (path === "/docs/init.js") {
        expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
        expect(body).toContain("SwaggerUIBundle(");
        continue;
      }
      expect(res.headers.get("content-type")).toBe(name.endsWith(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8");
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(body === readFileSync(join(dist, name), "utf8")).toBe(true);
      const sha256 = createHash("sha256").update(body, "utf8").digest("base64");
      expect(integrity).toBe(sha256);
      expect(res.headers.get("etag")).toBe(`"${sha256}"`);
    }
  });

  it("a swagger-ui-dist whose file differs from the manifest is refused with a 503 problem, the others still served", async () => {
    const { dir: dist } = installedSwaggerUi();
    copyFileSync(join(dist, "swagger-ui.css"), join(dir, "swagger-ui.css"));
    writeFileSync(join(dir, "swagger-ui-bundle.js"), readFileSync(join(dist, "swagger-ui-bundle.js"), "utf8") + "\n// another build\n");
    const other = await createTestControlPlane();
    try {
      registerSwaggerUiRoutes(other.app, swaggerUiFilesFromDir(dir));
      const bad = await other.call("GET", `/docs/swagger-ui/${SWAGGER_UI_VERSION}/swagger-ui-bundle.js`, { token: null });
      expect(bad.status).toBe(503);
      expect(bad.headers.get("content-type")).toBe("application/problem+json");
      const problem = (await bad.json()) as { type: string; detail: string };
      expect(problem.type).toBe("urn:leasehold:problem:docs-assets-mismatch");
      expect(problem.detail).toContain("swagger-ui-bundle.js");
      expect(problem.detail).not.toContain(dir);
      const good = await other.call("GET", `/docs/swagger-ui/${SWAGGER_UI_VERSION}/swagger-ui.css`, { token: null });
      expect(good.status).toBe(200);
      expect((await good.text()) === readFileSync(join(dist, "swagger-ui.css"), "utf8")).toBe(true);
    } finally {
      await other.close();
    }
  });

  it("a swagger-ui-dist missing a file answers 503 for it", async () => {
    const empty = mkdtempSync(join(dir, "empty-"));
    const other = await createTestControlPlane();
    try {
      registerSwaggerUiRoutes(other.app, swaggerUiFilesFromDir(empty));
      const res = await other.call("GET", `/docs/swagger-ui/${SWAGGER_UI_VERSION}/swagger-ui.css`, { token: null });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { detail: string }).detail).toContain("swagger-ui.css");
    } finally {
      await other.close();
    }
  });
});
