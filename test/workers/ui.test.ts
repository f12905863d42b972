// The dashboard as Workers static assets, from the same web/dist that wrangler.toml uploads: the assets
// service answers with the _headers the build wrote (the page's policy, revalidated index.html, immutable
// hashed files), so the Worker bundle never carries the dashboard.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

const get = (path: string) => env.ASSETS.fetch(`https://leasehold.test${path}`, { redirect: "manual" });

describe("the dashboard on Workers", () => {
  it("serves index.html at /ui/ under the page's policy, revalidated", async () => {
    const res = await get("/ui/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await res.text();
    expect(html).not.toMatch(/<script>|https?:\/\//);
    const assets = [...html.matchAll(/(?:src|href)="(\/ui\/assets\/[^"]+)"/g)].map(([, path]) => path!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const path of assets) {
      const asset = await get(path);
      expect(asset.status, path).toBe(200);
      expect(asset.headers.get("cache-control"), path).toBe("public, max-age=31536000, immutable");
      expect(asset.headers.get("content-type"), path).toMatch(path.endsWith(".js") ? /javascript/ : /text\/css/);
      await asset.body?.cancel();
    }
  });

  it("sends /ui to /ui/", async () => {
    const res = await get("/ui");
    expect(res.status).toBeGreaterThanOrEqual(301);
    expect(res.status).toBeLessThanOrEqual(308);
    expect(res.headers.get("location")).toBe("/ui/");
  });
});
