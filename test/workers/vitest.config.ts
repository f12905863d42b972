// Vitest project "workers": test/workers/**/*.test.ts run inside workerd via @cloudflare/vitest-pool-workers.
//
// How it is wired:
// - global-setup.ts runs in Node before the pool starts, starts the test Hrana server
//   (test/hrana/server.ts) on a fresh temp SQLite file and `provide`s its URL as "libsqlUrl".
// - The pool options below are a function so they can `inject("libsqlUrl")` and expose it to the
//   Worker as the plain-text binding LIBSQL_URL. LIBSQL_FRESH_URL is a second migrated database that
//   no test bootstraps (bootstrap.test.ts owns it). LIBSQL_SECRETS_URL is a third one that
//   secrets.test.ts owns, with LEASEHOLD_SECRETS_KEY a fixed test key: once that database holds a
//   secret, a Worker without the key refuses it, so it is not the shared one. LIBSQL_METRICS_URL is a
//   fourth that metrics.test.ts owns, so the gauges it reads count only what it seeded. Those are the only
//   bindings; the wrangler config
//   (wrangler.test.toml) sets main = ./entry.ts, nodejs_compat and the compatibility date.
// - Tests get the URL either as `env.LIBSQL_URL` (`import { env } from "cloudflare:workers"`) or as
//   `inject("libsqlUrl")` from "vitest", and talk to it with `@libsql/client/web`
//   (`createClient({ url })`) or `drizzle-orm/libsql/web`.
// - Outbound fetch from workerd to 127.0.0.1 needs no extra setting: Miniflare's default outbound
//   network allows "private" addresses, which include loopback. If a test ever installs its own
//   `outboundService`/fetch mock, it must pass requests for LIBSQL_URL through.
// - All test files share one database file for the whole run, so use unique table names (or
//   clean up) per test file.
//
// Adding tests: drop `*.test.ts` files into test/workers. They can import app code directly, e.g.
// `import { createApp } from "../../worker/app.ts"`, build deps with a libSQL client on
// env.LIBSQL_URL, and call `app.request("/...")` to drive routes such as job apply + get.
// New bindings go in `miniflare.bindings` below and in env.d.ts (the Env type); ASSETS, the dashboard's
// build, is bound in wrangler.test.toml. Type-check this folder with `tsc -p test/workers` (the root
// tsconfig excludes it).
import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { ensureWebBuild } from "../../scripts/web-build.ts";

// wrangler.test.toml serves web/dist as static assets (ui.test.ts): it must exist, and be current, before
// the pool reads that config. Cheap when it is (a look at modification times).
await ensureWebBuild((line) => console.log(line));

export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: fileURLToPath(new URL("./wrangler.test.toml", import.meta.url)) },
      miniflare: {
        bindings: {
          LIBSQL_URL: inject("libsqlUrl"),
          LIBSQL_FRESH_URL: inject("freshLibsqlUrl"),
          LIBSQL_SECRETS_URL: inject("secretsLibsqlUrl"),
          LIBSQL_METRICS_URL: inject("metricsLibsqlUrl"),
          // 32 bytes of 0x2a, base64: a test key, never a deployed one.
          LEASEHOLD_SECRETS_KEY: "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
        },
      },
    })),
  ],
  test: {
    name: "workers",
    root: fileURLToPath(new URL(".", import.meta.url)),
    include: ["**/*.test.ts"],
    globalSetup: ["./global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
