// Where the installed swagger-ui-dist is, and how its files are hashed: shared by the Node routes
// (node-files.ts), the manifest's generator (scripts/docs-assets.ts) and the web build that copies the files.
// Node only; it imports no manifest, so the generator runs while the manifest is missing or stale.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";

/** The installed swagger-ui-dist: its directory and version. */
export function installedSwaggerUi(): { dir: string; version: string } {
  const manifest = createRequire(import.meta.url).resolve("swagger-ui-dist/package.json");
  const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
  return { dir: dirname(manifest), version };
}

/** Base64 SHA-256, as subresource integrity spells it. */
export const sha256Base64 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("base64");
