// The dashboard's response headers, one definition for both runtimes: Node sends them from routes.ts, and
// the Workers static-assets router reads them from the _headers file the web build writes beside the files.

/**
 * The page loads its hashed script and stylesheet from /ui/ and talks to this origin's API and nothing
 * else. No inline script or style is allowed (the build emits none); img-src allows data: for icons the
 * stylesheet draws inline.
 */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Files under assets/ carry a content hash in their names: a new build gets new URLs, so they are cached for good. */
export const IMMUTABLE = "public, max-age=31536000, immutable";
/** index.html (and anything else unhashed) names the current assets: revalidated on every load. */
export const REVALIDATE = "no-cache";

/** Where the dashboard is served, and where its hashed files sit under it. */
export const UI_BASE = "/ui/";
export const UI_ASSETS_DIR = "assets/";

/** Whether a file of the build (a path relative to it) is content-hashed. */
export function isHashedAsset(path: string): boolean {
  return path.startsWith(UI_ASSETS_DIR);
}

/**
 * The _headers file for Workers static assets (web/dist is the assets directory, so /ui/... maps to
 * web/dist/ui/...). The security headers app.ts sets on every API answer are set here too, since the
 * Worker never runs for a file the router serves.
 */
export function workersHeadersFile(): string {
  const common = [
    `Content-Security-Policy: ${UI_CSP}`,
    "X-Content-Type-Options: nosniff",
    "X-Frame-Options: DENY",
    "Referrer-Policy: no-referrer",
  ];
  return [
    "# Written by scripts/web-build.ts from worker/ui/policy.ts and worker/docs/policy.ts; do not edit.",
    "/ui/*",
    ...common.map((h) => `  ${h}`),
    // Rules that match one path add up, so each cache policy has a rule of its own.
    "/ui/",
    `  Cache-Control: ${REVALIDATE}`,
    "/ui/index.html",
    `  Cache-Control: ${REVALIDATE}`,
    `/ui/${UI_ASSETS_DIR}*`,
    `  Cache-Control: ${IMMUTABLE}`,
    "",
  ].join("\n");
}
