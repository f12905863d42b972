// UiFiles on Node: the build directory on disk (web/dist/ui), read on each request so a rebuild is served
// without a restart. Paths are checked by the routes before they get here, and again here.
import { readFile } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { isSafeUiPath, type UiFiles } from "./files";

/** Where `npm run build:web` writes the dashboard, in this checkout. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL("../../web/dist/ui", import.meta.url));

export function uiFilesFromDir(dir: string): UiFiles {
  const root = resolve(dir);
  return {
    async read(path) {
      if (!isSafeUiPath(path)) return null;
      const file = join(root, path);
      const inside = relative(root, file);
      if (inside.startsWith("..") || inside.startsWith(sep)) return null;
      try {
        return await readFile(file);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (code === "ENOENT" || code === "EISDIR" || code === "ENOTDIR") return null;
        throw err;
      }
    },
  };
}
