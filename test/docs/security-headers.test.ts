// Security headers on every answer of the app (successes, errors, 404s, problem+json) and the docs page's own policy.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";

let cp: TestControlPlane;

beforeEach(async () => {
  cp = await createTestControlPlane({ config: { bodyLimitBytes: 2048 } });
});

afterEach(() => cp.close());

/** The directives of a Content-Security-Policy header, by name. */
function directives(header: string | null): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of (header ?? "").split(";")) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out.set(name.toLowerCase(), values);
  }
  return out;
}

describe("security headers", () => {
  it("every answer carries nosniff, a deny-all framing policy and no referrer, errors and 404s included", async () => {
    const answers: [string, Response][] = [
      ["healthz", await cp.call("GET", "/healthz", { token: null })],
      ["openapi", await cp.call("GET", "/openapi.json", { token: null })],
      ["jwks", await cp.call("GET", "/.well-known/jwks.json", { token: null })],
      ["no route", await cp.call("GET", "/no/such/route", { token: null })],
      ["unauthenticated", await cp.call("GET", "/v1/namespaces", { token: null })],
      ["invalid body", await cp.call("POST", "/v1/jobs", { body: { name: "x", image: "i", resources: { cpu: -1, memory: 8 } } })],
      ["too large", await cp.call("POST", "/v1/jobs", { body: "x".repeat(4096), headers: { "content-type": "application/json" } })],
      ["ok", await cp.call("GET", "/v1/namespaces")],
    ];
    expect(answers.map(([what, res]) => [what, res.status])).toEqual([
      ["healthz", 200],
      ["openapi", 200],
      ["jwks", 200],
      ["no route", 404],
      ["unauthenticated", 401],
      ["invalid body", 400],
      ["too large", 413],
      ["ok", 200],
    ]);
    for (const [what, res] of answers) {
      const headers = { what, nosniff: res.headers.get("x-content-type-options"), frame: res.headers.get("x-frame-options"), referrer: res.headers.get("referrer-policy") };
      expect(headers).toEqual({ what, nosniff: "nosniff", frame: "DENY", referrer: "no-referrer" });
      // API answers are data: they load nothing and may be framed by no one.
      const csp = directives(res.headers.get("content-security-policy"));
      expect({ what, defaultSrc: csp.get("default-src"), frameAncestors: csp.get("frame-ancestors") }).toEqual({ what, defaultSrc: ["'none'"], frameAncestors: ["'none'"] });
    }
    const problem = answers.find(([what]) => what === "no route")?.[1];
    expect(problem?.headers.get("content-type")).toContain("application/problem+json");
  });

  it("/docs has a policy that allows only its own scripts and styles, and nothing may frame it", async () => {
    const res = await cp.call("GET", "/docs", { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    const csp = directives(res.headers.get("content-security-policy"));
    expect(csp.get("default-src")).toEqual(["'none'"]);
    expect(csp.get("script-src")).toEqual(["'self'"]);
    expect(csp.get("frame-ancestors")).toEqual(["'none'"]);
    expect(csp.get("base-uri")).toEqual(["'none'"]);
    expect(csp.get("connect-src")).toEqual(["'self'"]);
    for (const [name, values] of csp) {
      expect({ name, values: values.filter((v) => v === "'unsafe-inline'" || v === "'unsafe-eval'" || v === "*" || /^https?:/.test(v)) }).toEqual({ name, values: [] });
    }
    // No inline script: every <script> names a same-origin src.
    const html = await res.text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/\bsrc="\/docs\//);
      expect(body?.trim()).toBe("");
    }
  });
});
