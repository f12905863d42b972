// POST /v1/bootstrap inside workerd, through the real Worker entry, against a migrated database nothing has
// bootstrapped (LIBSQL_FRESH_URL): the secret is checked, concurrent calls issue exactly one admin token, the
// token works, and every later call is refused.
import { env } from "cloudflare:workers";
import { createClient } from "@libsql/client/web";
import { describe, expect, it } from "vitest";
import { generateSigningKey } from "../../worker/auth/keys.ts";
import worker, { type Env } from "../../worker/index.ts";

const ctx = { waitUntil: (_p: Promise<unknown>) => {}, passThroughOnException: () => {}, props: {} };
const SECRET = "bootstrap-secret-for-the-workerd-suite-0123456789";

const { privateJwk } = await generateSigningKey();
const freshEnv = (overrides: Partial<Env> = {}): Env => ({ LIBSQL_URL: env.LIBSQL_FRESH_URL, LEASEHOLD_SIGNING_KEY: JSON.stringify(privateJwk), LEASEHOLD_BOOTSTRAP_SECRET: SECRET, ...overrides });

function call(method: string, path: string, authorization: string | undefined, e: Env = freshEnv()): Promise<Response> {
  const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
  return worker.fetch(new Request(`https://leasehold.test${path}`, { method, headers }) as never, e, ctx as never) as unknown as Promise<Response>;
}

async function bootstrapRows(): Promise<{ tokens: number; audits: number; namespaces: number }> {
  const client = createClient({ url: env.LIBSQL_FRESH_URL });
  try {
    const [tokens, audits, namespaces] = await client.batch(
      [
        "SELECT count(*) AS n FROM api_tokens WHERE created_by = 'bootstrap'",
        "SELECT count(*) AS n FROM audit WHERE actor = 'bootstrap' AND action = 'token.issue'",
        "SELECT count(*) AS n FROM namespaces WHERE name = 'default'",
      ],
      "read",
    );
    const n = (rs: typeof tokens) => Number(rs?.rows[0]?.["n"]);
    return { tokens: n(tokens), audits: n(audits), namespaces: n(namespaces) };
  } finally {
    client.close();
  }
}

async function problemType(res: Response): Promise<string> {
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  return ((await res.json()) as { type: string }).type;
}

// The tests share the one fresh database and run in order: nothing may bootstrap it before the race.
describe("POST /v1/bootstrap in workerd", () => {
  it("does not exist without a LEASEHOLD_BOOTSTRAP_SECRET binding", async () => {
    const res = await call("POST", "/v1/bootstrap", `Bearer ${SECRET}`, freshEnv({ LEASEHOLD_BOOTSTRAP_SECRET: undefined }));
    expect(res.status).toBe(404);
    expect(await problemType(res)).toBe("urn:leasehold:problem:not-found");
    expect(await bootstrapRows()).toEqual({ tokens: 0, audits: 0, namespaces: 0 });
  });

  it("a Worker whose bootstrap secret is too short, or not a bearer credential, refuses to serve", async () => {
    for (const secret of ["short", `${"x".repeat(40)} !`]) {
      const res = await call("GET", "/healthz", undefined, freshEnv({ LEASEHOLD_BOOTSTRAP_SECRET: secret }));
      expect(res.status).toBe(500);
      expect(await problemType(res)).toBe("urn:leasehold:problem:misconfigured");
    }
  });

  it("refuses a missing, malformed or wrong secret with 401 and changes nothing", async () => {
    for (const authorization of [undefined, "Basic Zm9vOmJhcg==", `Bearer ${SECRET}x`, `Bearer ${SECRET.slice(0, -1)}`, "Bearer wrong"]) {
      const res = await call("POST", "/v1/bootstrap", authorization);
      expect({ authorization, status: res.status }).toEqual({ authorization, status: 401 });
      expect(await problemType(res)).toBe("urn:leasehold:problem:unauthorized");
    }
    expect(await bootstrapRows()).toEqual({ tokens: 0, audits: 0, namespaces: 0 });
  });

  it("of concurrent calls exactly one gets the admin token, which works; every later call is refused", async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => call("POST", "/v1/bootstrap", `Bearer ${SECRET}`)));
    expect(answers.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    const winner = answers.find((r) => r.status === 201)!;
    expect(winner.headers.get("cache-control")).toBe("no-store");
    const { token, namespace } = (await winner.json()) as { token: string; namespace: string };
    expect(namespace).toBe("default");
    for (const loser of answers.filter((r) => r.status === 409)) expect(await problemType(loser)).toBe("urn:leasehold:problem:conflict");
    expect(await bootstrapRows()).toEqual({ tokens: 1, audits: 1, namespaces: 1 });

    const listed = await call("GET", "/v1/namespaces", `Bearer ${token}`);
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { namespaces: { name: string }[] }).namespaces.map((n) => n.name)).toContain("default");
    const issued = await worker.fetch(
      new Request("https://leasehold.test/v1/tokens", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ subject: "ops", roles: { default: "operator" } }),
      }) as never,
      freshEnv(),
      ctx as never,
    );
    expect(issued.status).toBe(201);

    const again = await call("POST", "/v1/bootstrap", `Bearer ${SECRET}`);
    expect(again.status).toBe(409);
    expect(await problemType(again)).toBe("urn:leasehold:problem:conflict");
    // The secret is no operator token, and the route is no way around the operator routes' auth.
    expect((await call("GET", "/v1/namespaces", `Bearer ${SECRET}`)).status).toBe(401);
    expect(await bootstrapRows()).toEqual({ tokens: 1, audits: 1, namespaces: 1 });
  });

  it("is described in the OpenAPI document with its own security scheme", async () => {
    const doc = (await (await call("GET", "/openapi.json", undefined)).json()) as {
      paths: Record<string, { post?: { security?: unknown } }>;
      components: { securitySchemes: Record<string, unknown> };
    };
    expect(doc.paths["/v1/bootstrap"]?.post?.security).toEqual([{ bootstrapSecret: [] }]);
    expect(doc.components.securitySchemes).toHaveProperty("bootstrapSecret");
  });
});
