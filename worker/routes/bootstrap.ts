// POST /v1/bootstrap: the first admin token of a control plane that has no start-up of its own (Workers).
//
// The Node entry bootstraps when it starts (worker/bootstrap.ts) and prints the token. A Worker has no
// such moment, so an operator who holds the bootstrap secret (the LEASEHOLD_BOOTSTRAP_SECRET binding)
// asks for it once. The same conditional insert decides: of any number of calls, on any instances, at
// most one ever gets a token; every other call, then and forever after, is refused with 409. Without a
// configured secret the route does not exist (404), so a Node control plane never offers it.
import { createRoute, z } from "@hono/zod-openapi";
import { bearerToken } from "../auth/tokens";
import { bootstrap } from "../bootstrap";
import type { App, ResolvedDeps } from "../context";
import { conflict, notFound, unauthorized } from "../errors";
import { errorResponses, json } from "./schemas";

export const BOOTSTRAP_PATH = "/v1/bootstrap";

/** Shorter secrets are refused when the Worker starts: the route is the one way in that no token guards. */
export const MIN_BOOTSTRAP_SECRET_LENGTH = 32;
/** It travels as a bearer credential, so it is made of the characters one may hold (see bearerToken). */
export const BOOTSTRAP_SECRET_PATTERN = new RegExp(`^[A-Za-z0-9._~+/=-]{${MIN_BOOTSTRAP_SECRET_LENGTH},}$`);

/** Compares in time independent of where the two differ: both are hashed first, then every byte is compared. */
export async function sameSecret(given: string, expected: string): Promise<boolean> {
  const digest = async (text: string) => new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  const [a, b] = [await digest(given), await digest(expected)];
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

export function registerBootstrapRoute(app: App, deps: ResolvedDeps, secret: string | undefined): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "bootstrapSecret", {
    type: "http",
    scheme: "bearer",
    description: "The LEASEHOLD_BOOTSTRAP_SECRET binding of the Worker",
  });
  app.openapi(
    createRoute({
      method: "post",
      path: BOOTSTRAP_PATH,
      summary: "Issue the first admin token and create the default namespace, once (Workers deployments)",
      security: [{ bootstrapSecret: [] }],
      responses: {
        201: json(z.object({ token: z.string(), namespace: z.literal("default") }), "The admin token; it is shown only this once"),
        ...errorResponses,
      },
    }),
    async (c) => {
      if (!secret) throw notFound("bootstrap is not enabled on this control plane: set the LEASEHOLD_BOOTSTRAP_SECRET secret of the Worker");
      if (!(await sameSecret(bearerToken(c.req.header("authorization")), secret))) throw unauthorized("the bootstrap secret is wrong");
      const token = await bootstrap(deps.store, deps.keys, deps.clock, deps.config.tokenTtl);
      if (token === null) throw conflict("this control plane has been bootstrapped already; an admin issues further tokens with POST /v1/tokens");
      c.header("cache-control", "no-store");
      return c.json({ token, namespace: "default" as const }, 201);
    },
  );
}
