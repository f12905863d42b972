// SwaggerUiFiles on Node: the installed swagger-ui-dist, read once at start and checked against the
// manifest's SHA-256, so a different installed version is refused rather than served under the wrong integrity.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { DocsAsset } from "./asset";
import { installedSwaggerUi, sha256Base64 } from "./swagger-ui-dist";
import { swaggerUiAssets, SWAGGER_UI_VERSION } from "./swagger-ui.manifest";
import type { SwaggerUiFile, SwaggerUiFiles } from "./swagger-ui-routes";

/** Reads the manifest's files from `dir` (default: the installed swagger-ui-dist). */
export function swaggerUiFilesFromDir(dir = installedSwaggerUi().dir, assets: readonly DocsAsset[] = swaggerUiAssets): SwaggerUiFiles {
  const files = new Map<string, SwaggerUiFile>();
  for (const asset of assets) {
    let body: Uint8Array;
    try {
      body = readFileSync(join(dir, asset.name));
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== "ENOENT" && code !== "EISDIR") throw err;
      files.set(asset.name, { ok: false, reason: `swagger-ui-dist has no ${asset.name}: install swagger-ui-dist ${SWAGGER_UI_VERSION} (npm ci)` });
      continue;
    }
    const sha256 = sha256Base64(body);
    files.set(
      asset.name,
      sha256 === asset.sha256
        ? { ok: true, body }
        : { ok: false, reason: `the installed swagger-ui-dist's ${asset.name} is not the one this build pins (${SWAGGER_UI_VERSION}): reinstall with npm ci, or run npm run docs:assets after changing the version` },
    );
  }
  return files;
}
