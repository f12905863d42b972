// The Swagger UI files /docs serves: the committed module is what scripts/docs-assets.ts writes from the
// pinned swagger-ui-dist, and the app serves those bytes, named by the page with matching integrity.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GENERATED_MODULE, installedSwaggerUi, renderAssetsModule } from "../../scripts/docs-assets";
import { SWAGGER_UI_VERSION } from "../../worker/docs";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";

let cp: TestControlPlane;
beforeAll(async () => {
  cp = await createTestControlPlane();
});
afterAll(() => cp.close());

describe("docs assets", () => {
  it("are generated from the swagger-ui-dist version package.json pins (npm run docs:assets after a bump)", () => {
    const pinned = (JSON.parse(readFileSync("package.json", "utf8")) as { dependencies: Record<string, string> }).dependencies["swagger-ui-dist"];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(installedSwaggerUi().version).toBe(pinned);
    expect(SWAGGER_UI_VERSION).toBe(pinned);
    expect(readFileSync(GENERATED_MODULE, "utf8") === renderAssetsModule()).toBe(true);
  });

  it("are served from this origin, byte for byte, with the integrity the page names", async () => {
    const page = await cp.call("GET", "/docs", { token: null });
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).toContain('data-openapi-url="/openapi.json"');
    const refs = [...html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"(?: integrity="sha256-([^"]+)")?/g)].map(([, path, integrity]) => ({ path: path!, integrity }));
    expect(refs.map((r) => r.path).sort()).toEqual([`/docs/swagger-ui/${SWAGGER_UI_VERSION}/swagger-ui-bundle.js`, `/docs/swagger-ui/${SWAGGER_UI_VERSION}/swagger-ui.css`, "/docs/init.js"].sort());
    const { dir } = installedSwaggerUi();
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
      expect(res.headers.get("cache-control")).toContain("immutable");
      expect(body === readFileSync(join(dir, name), "utf8")).toBe(true);
      expect(integrity).toBe(createHash("sha256").update(body, "utf8").digest("base64"));
    }
  });
});
