// Ambient types for the workerd test suite: the Worker env bindings and the values provided by global-setup.ts.
declare namespace Cloudflare {
  interface Env {
    /** Base URL of the test Hrana server (see global-setup.ts). */
    LIBSQL_URL: string;
    /** A second migrated database that only bootstrap.test.ts uses: nothing has bootstrapped it. */
    LIBSQL_FRESH_URL: string;
  }
}

declare module "cloudflare:workers" {
  export const env: Cloudflare.Env;
}
