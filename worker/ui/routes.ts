// GET /ui/…: the operator dashboard (web/), served from the control plane's own origin under a strict policy.
// Its routes are in the URL's fragment (/ui/#/jobs/default/web), so the server only ever serves index.html
// and the hashed files the build names. Registered on Node; Workers serve the files as static assets.
import type { App } from "../context";
import { ProblemError, notFound } from "../errors";
import { contentTypeOf, isSafeUiPath, type UiFiles } from "./files";
import { IMMUTABLE, isHashedAsset, REVALIDATE, UI_BASE, UI_CSP } from "./policy";

export function registerUiRoutes(app: App, files: UiFiles): void {
  app.get("/ui", (c) => c.redirect(UI_BASE, 301));

  app.get(`${UI_BASE}*`, async (c) => {
    const path = c.req.path.slice(UI_BASE.length) || "index.html";
    if (!isSafeUiPath(path)) throw notFound(`no dashboard file ${path}`);
    const body = await files.read(path);
    if (body === null) {
      if (path === "index.html") throw new ProblemError(503, "ui-not-built", "Dashboard not built", "the dashboard has not been built on this control plane: run npm run build:web");
      throw notFound(`no dashboard file ${path}`);
    }
    return c.body(body as Uint8Array<ArrayBuffer>, 200, {
      "content-type": contentTypeOf(path),
      "content-security-policy": UI_CSP,
      "cache-control": isHashedAsset(path) ? IMMUTABLE : REVALIDATE,
    });
  });
}
