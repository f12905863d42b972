// GET /docs/swagger-ui/<version>/<name> on Node: the pinned Swagger UI files, from the SwaggerUiFiles port
// (node-files.ts reads them from swagger-ui-dist). On Workers the static-assets router serves them, so this
// is registered by the Node entry only, and the Worker bundle carries no Swagger UI code.
import type { App } from "../context";
import { ProblemError } from "../errors";
import type { DocsAsset } from "./asset";
import { SWAGGER_UI_BASE, swaggerUiFileHeaders } from "./policy";
import { swaggerUiAssets } from "./swagger-ui.manifest";

/** A manifest file's bytes, or why they cannot be served. */
export type SwaggerUiFile = { ok: true; body: Uint8Array } | { ok: false; reason: string };

/** The files, read once, by name. */
export type SwaggerUiFiles = ReadonlyMap<string, SwaggerUiFile>;

export function registerSwaggerUiRoutes(app: App, files: SwaggerUiFiles, assets: readonly DocsAsset[] = swaggerUiAssets): void {
  for (const asset of assets) {
    const file = files.get(asset.name) ?? { ok: false, reason: `${asset.name} was not read` };
    app.get(`${SWAGGER_UI_BASE}/${asset.name}`, (c) => {
      // A page whose integrity check fails renders nothing; say why instead of sending bytes it would refuse.
      if (!file.ok) throw new ProblemError(503, "docs-assets-mismatch", "Docs assets unavailable", file.reason);
      return c.body(file.body as Uint8Array<ArrayBuffer>, 200, swaggerUiFileHeaders(asset));
    });
  }
}
