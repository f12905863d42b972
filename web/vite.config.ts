// Vite config of the dashboard: Preact through the automatic JSX runtime, served from /ui/, every asset
// hashed and bundled (no CDN, no inline script), written to web/dist/ui. Build it with npm run build:web.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/ui/",
  publicDir: false,
  logLevel: "warn",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: fileURLToPath(new URL("./dist/ui", import.meta.url)),
    emptyOutDir: true,
    assetsDir: "assets",
    // The polyfill would be inlined into index.html, which the page's policy forbids; every browser the
    // dashboard targets has modulepreload.
    modulePreload: { polyfill: false },
    // Small icons stay files too: the policy allows data: images, but one rule for every asset is simpler.
    assetsInlineLimit: 0,
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
  },
});
