// GET /docs: Swagger UI over /openapi.json, served entirely by the control plane (no CDN), under a strict policy.
//
// The page has no inline script or style: it loads the pinned Swagger UI files (with subresource
// integrity) and a small start-up script, all from /docs/ on this origin, so its Content-Security-Policy
// can allow 'self' and nothing else. Only the page and that script are here: the Swagger UI files are
// static assets on Workers and served by swagger-ui-routes.ts on Node.
import type { App } from "../context";
import type { DocsAsset } from "./asset";
import { DOCS_CSP, SWAGGER_UI_BASE } from "./policy";
import { swaggerUiAssets } from "./swagger-ui.manifest";

const INIT_PATH = "/docs/init.js";

function asset(name: string): DocsAsset {
  const found = swaggerUiAssets.find((a) => a.name === name);
  if (!found) throw new Error(`swagger-ui.manifest.ts has no ${name}; run npm run docs:assets`);
  return found;
}

// The page names its document on the root element, so this script is the same for every page.
// validatorUrl: null keeps Swagger UI from sending the document to validator.swagger.io.
const INIT_SCRIPT = `const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  domNode: root,
  deepLinking: true,
  validatorUrl: null,
});
`;

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function page(opts: DocsOptions): string {
  const css = asset("swagger-ui.css");
  const bundle = asset("swagger-ui-bundle.js");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(opts.title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${SWAGGER_UI_BASE}/${css.name}" integrity="sha256-${css.sha256}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="${escapeHtml(opts.openApiUrl)}"></div>
<script src="${SWAGGER_UI_BASE}/${bundle.name}" integrity="sha256-${bundle.sha256}"></script>
<script src="${INIT_PATH}"></script>
</body>
</html>
`;
}

export interface DocsOptions {
  /** The OpenAPI document the page renders. */
  openApiUrl: string;
  title: string;
}

export function registerDocsRoutes(app: App, opts: DocsOptions): void {
  const html = page(opts);
  // The page and its start-up script may change with any release of ours; revalidate them each time.
  app.get("/docs", (c) => c.body(html, 200, { "content-type": "text/html; charset=utf-8", "content-security-policy": DOCS_CSP, "cache-control": "no-cache" }));
  app.get(INIT_PATH, (c) => c.body(INIT_SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" }));
}
