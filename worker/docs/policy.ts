// The docs page's URLs and response headers, one definition for both runtimes: Node sends them from its
// routes, and the Workers static-assets router reads those of the Swagger UI files from the _headers file the web
// build writes.
import type { DocsAsset } from "./asset.ts";
import { SWAGGER_UI_VERSION } from "./swagger-ui.manifest.ts";

/** What the docs page may load. Answers of the API itself get a deny-all policy (see app.ts). */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // Swagger UI's stylesheet draws its icons as data: SVGs.
  "img-src 'self' data:",
  "font-src 'self'",
  // The OpenAPI document, and "Try it out" requests to this control plane.
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Where the versioned files live: a new swagger-ui-dist gets new URLs, so they can be cached for good. */
export const SWAGGER_UI_BASE = `/docs/swagger-ui/${SWAGGER_UI_VERSION}`;

/** The headers a Swagger UI file is served with, on either runtime. */
export function swaggerUiFileHeaders(file: DocsAsset): Record<string, string> {
  return { "content-type": file.contentType, etag: `"${file.sha256}"`, "cache-control": "public, max-age=31536000, immutable" };
}

/**
 * The _headers rules for the Swagger UI files as Workers static assets. The router answers for them before
 * the Worker runs, so the security headers app.ts sets on every API answer are set here too.
 */
export function swaggerUiHeadersRules(files: readonly DocsAsset[]): string {
  const common = {
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
  };
  const lines: string[] = [];
  for (const file of files) {
    lines.push(`${SWAGGER_UI_BASE}/${file.name}`);
    for (const [name, value] of Object.entries({ ...common, ...swaggerUiFileHeaders(file) })) lines.push(`  ${name}: ${value}`);
  }
  return lines.join("\n") + "\n";
}
