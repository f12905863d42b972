// /docs inside workerd: the Worker serves Swagger UI from its own bundle (no filesystem, no CDN), and every
// answer, the entry's own misconfiguration answer included, carries the security headers.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { generateSigningKey } from "../../worker/auth/keys.ts";
import worker, { type Env } from "../../worker/index.ts";

const ctx = { waitUntil: (_p: Promise<unknown>) => {}, passThroughOnException: () => {}, props: {} };

async function workerEnv(): Promise<Env> {
  const { privateJwk } = await generateSigningKey();
  return { LIBSQL_URL: env.LIBSQL_URL, LEASEHOLD_SIGNING_KEY: JSON.stringify(privateJwk) };
}

const get = (path: string, e: Env) => worker.fetch(new Request(`https://leasehold.test${path}`) as never, e, ctx as never) as unknown as Promise<Response>;

describe("docs in workerd", () => {
  it("serves the page and the pinned Swagger UI files from the Worker itself", async () => {
    const e = await workerEnv();
    const page = await get("/docs", e);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    const paths = [...html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)].map(([, path]) => path!);
    expect(paths).toHaveLength(3);
    const bodies = new Map<string, string>();
    for (const path of paths) {
      const res = await get(path, e);
      expect({ path, status: res.status, nosniff: res.headers.get("x-content-type-options") }).toEqual({ path, status: 200, nosniff: "nosniff" });
      bodies.set(path.split("/").pop()!, await res.text());
    }
    expect(bodies.get("swagger-ui-bundle.js")?.length).toBeGreaterThan(1_000_000);
    expect(bodies.get("swagger-ui-bundle.js")).toContain("SwaggerUIBundle");
    expect(bodies.get("swagger-ui.css")).toContain(".swagger-ui");
  });

  it("a misconfigured Worker's problem answer carries nosniff too", async () => {
    const res = await get("/healthz", { LIBSQL_URL: env.LIBSQL_URL, LEASEHOLD_SIGNING_KEY: "{}" });
    expect(res.status).toBe(500);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  });
});
