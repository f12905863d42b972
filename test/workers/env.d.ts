// Ambient types for the workerd test suite: the Worker env bindings and the values provided by global-setup.ts.
declare namespace Cloudflare {
  interface Env {
    /** Base URL of the test Hrana server (see global-setup.ts). */
    LIBSQL_URL: string;
    /** A second migrated database that only bootstrap.test.ts uses: nothing has bootstrapped it. */
    LIBSQL_FRESH_URL: string;
    /** A third migrated database that only secrets.test.ts uses. */
    LIBSQL_SECRETS_URL: string;
    /** A fourth migrated database that only metrics.test.ts uses. */
    LIBSQL_METRICS_URL: string;
    /** A fixed secrets master key (base64, 32 bytes) for the secrets tests. */
    LEASEHOLD_SECRETS_KEY: string;
    /** The dashboard's build as static assets (wrangler.test.toml). */
    ASSETS: { fetch(input: string, init?: RequestInit): Promise<Response> };
  }
}

declare module "cloudflare:workers" {
  export const env: Cloudflare.Env;
}
