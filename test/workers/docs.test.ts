// /docs inside workerd: the Worker serves the page and its start-up script, and the Swagger UI files it names
// are static assets from the same web/dist that wrangler.toml uploads (bound as ASSETS here, see ui.test.ts),
// with the integrity the page names. Every answer, the entry's own misconfiguration answer included,
// carries the security headers.
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
  it("serves the page and its script from the Worker, and the pinned Swagger UI files as static assets", async () => {
    const e = await workerEnv();
    const page = await get("/docs", e);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    const refs = [...html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"(?: integrity="sha256-([^"]+)")?/g)].map(([, path, integrity]) => ({ path: path!, integrity }));
    expect(refs).toHaveLength(3);

    const init = await get("/docs/init.js", e);
    expect({ status: init.status, nosniff: init.headers.get("x-content-type-options") }).toEqual({ status: 200, nosniff: "nosniff" });
    expect(await init.text()).toContain("SwaggerUIBundle(");

    const bodies = new Map<string, string>();
    for (const { path, integrity } of refs.filter((r) => r.path !== "/docs/init.js")) {
      const res = await env.ASSETS.fetch(`https://leasehold.test${path}`);
      const headers = Object.fromEntries(["cache-control", "x-content-type-options", "x-frame-options", "content-security-policy", "etag"].map((h) => [h, res.headers.get(h)]));
      expect({ path, status: res.status, ...headers }).toEqual({
        path,
        status: 200,
        "cache-control": "public, max-age=31536000, immutable",
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
        etag: `"${integrity}"`,
      });
      expect(res.headers.get("content-type"), path).toMatch(path.endsWith(".js") ? /^text\/javascript/ : /^text\/css/);
      const bytes = await res.arrayBuffer();
      const sha256 = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))));
      expect({ path, sha256 }).toEqual({ path, sha256: integrity });
      bodies.set(path.split("/").pop()!, new TextDecoder().decode(bytes));
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
