// Refused credentials: forged, expired, misdirected, unrecorded and under-privileged tokens get 401/403 and change nothing.
import { decodeJwt, generateKeyPair, SignJWT, type JWTPayload } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AUDIENCE, ISSUER } from "../../api/agent-protocol";
import { issueNodeCredential, issueOperatorToken, signJwt } from "../../worker/auth/tokens";
import { newId } from "../../worker/context";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { applyJson, expectJson, expectProblem, jobSpec, snapshotCounts } from "./helpers";

const b64url = (text: string) => Buffer.from(text, "utf8").toString("base64url");

let cp: TestControlPlane;

beforeEach(async () => {
  cp = await createTestControlPlane();
});

afterEach(async () => {
  await cp.settled();
  cp.close();
});

/** The claims of the (valid, recorded) admin token, to forge look-alikes from. */
function adminClaims(): JWTPayload {
  const claims = decodeJwt(cp.adminToken);
  expect(claims).toMatchObject({ iss: ISSUER, aud: AUDIENCE.operator, roles: { "*": "admin" } });
  expect(typeof claims.jti).toBe("string");
  return claims;
}

/**
 * Sends a token on a write (apply a job) and a read (list jobs), expects the same refusal for both,
 * and checks no table changed. The same apply with the admin token then succeeds, so the refusal is the token's.
 */
async function expectRefused(token: string | null, status: 401 | 403, headers: Record<string, string> = {}): Promise<string[]> {
  const before = await snapshotCounts(cp);
  const write = await expectProblem(await cp.call("POST", "/v1/jobs", { token, body: jobSpec(), headers }), status, status === 401 ? "unauthorized" : "forbidden");
  const read = await expectProblem(await cp.call("GET", "/v1/namespaces/default/jobs", { token, headers }), status, status === 401 ? "unauthorized" : "forbidden");
  const ns = await expectProblem(await cp.call("POST", "/v1/namespaces", { token, body: { name: "intruder" }, headers }), status);
  expect(await snapshotCounts(cp)).toEqual(before);
  return [write.detail, read.detail, ns.detail];
}

describe("operator authentication", () => {
  it("control: the admin token is accepted for the same requests", async () => {
    const applied = await applyJson(cp, jobSpec());
    expect(applied.changed).toBe(true);
    const list = await expectJson<{ jobs: unknown[] }>(await cp.call("GET", "/v1/namespaces/default/jobs"));
    expect(list.jobs).toHaveLength(1);
  });

  it("refuses an unsigned alg=none token carrying the admin token's own claims", async () => {
    const token = `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${b64url(JSON.stringify(adminClaims()))}.`;
    const details = await expectRefused(token, 401);
    expect(details[0]).toMatch(/algorithm|malformed/);
  });

  it("refuses an HS256 token keyed with the public key (algorithm confusion)", async () => {
    const secret = Buffer.from(cp.keys.publicJwk.x ?? "", "base64url");
    expect(secret.length).toBe(32);
    const token = await new SignJWT(adminClaims()).setProtectedHeader({ alg: "HS256", kid: cp.keys.kid, typ: "JWT" }).sign(secret);
    const details = await expectRefused(token, 401);
    expect(details[0]).toContain("algorithm");
  });

  it("refuses a token signed by another Ed25519 key with the same kid and claims", async () => {
    const other = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const token = await new SignJWT(adminClaims()).setProtectedHeader({ alg: "EdDSA", kid: cp.keys.kid, typ: "JWT" }).sign(other.privateKey);
    const details = await expectRefused(token, 401);
    expect(details[0]).toContain("signature");
  });

  it("refuses a token whose signature was kept but whose claims were edited", async () => {
    const viewer = await cp.token({ default: "viewer" });
    const [header, , signature] = viewer.split(".");
    const claims = { ...decodeJwt(viewer), roles: { "*": "admin" } };
    const details = await expectRefused(`${header}.${b64url(JSON.stringify(claims))}.${signature}`, 401);
    expect(details[0]).toContain("signature");
  });

  it("refuses an expired token once the clock passes exp, and accepts it just before", async () => {
    const claims = adminClaims();
    const exp = (claims.exp ?? 0) * 1000;
    cp.clock.set(exp - 1_000);
    await expectJson(await cp.call("GET", "/v1/namespaces/default/jobs"));
    cp.clock.set(exp + 1_000);
    const details = await expectRefused(cp.adminToken, 401);
    expect(details[0]).toBe("token has expired");
  });

  it("refuses a token for another audience: a node credential, a lease audience, or an unknown one", async () => {
    const node = await issueNodeCredential(cp.keys, cp.clock, "node-1", 1, 3_600_000);
    expect((await expectRefused(node, 401))[0]).toContain('"aud"');
    // Real key, admin claims, recorded jti: only the audience is wrong.
    const { aud: _aud, iss: _iss, iat: _iat, exp: _exp, ...claims } = adminClaims();
    for (const audience of [AUDIENCE.node, AUDIENCE.lease, "other"]) {
      const token = await signJwt(cp.keys, cp.clock, claims, audience, 3_600_000);
      expect((await expectRefused(token, 401))[0]).toContain('"aud"');
    }
    // And the other way round: the operator token is not a node credential.
    const claim = await expectProblem(await cp.call("POST", "/v1/agent/claim", { body: {} }), 401, "unauthorized");
    expect(claim.detail).toContain('"aud"');
  });

  it("refuses a correctly signed token for another issuer", async () => {
    const { aud: _aud, iss: _iss, iat: _iat, exp: _exp, ...claims } = adminClaims();
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: "EdDSA", kid: cp.keys.kid })
      .setIssuer("someone-else")
      .setAudience(AUDIENCE.operator)
      .setIssuedAt(Math.floor(cp.clock.now() / 1000))
      .setExpirationTime(Math.floor(cp.clock.now() / 1000) + 3600)
      .sign(cp.keys.privateKey);
    expect((await expectRefused(token, 401))[0]).toContain('"iss"');
  });

  it("refuses a missing or malformed Authorization header", async () => {
    expect((await expectRefused(null, 401))[0]).toContain("missing");
    for (const authorization of ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", `Token ${cp.adminToken}`, `Bearer ${cp.adminToken} extra`, "Bearer not-a-jwt", "Bearer a.b.c"]) {
      await expectRefused(null, 401, { authorization });
    }
  });

  it("refuses a validly signed token that was never recorded in api_tokens", async () => {
    const token = await issueOperatorToken(cp.keys, cp.clock, { subject: "ghost", tokenId: newId(), roles: { "*": "admin" }, ttlMs: 3_600_000 });
    const details = await expectRefused(token, 401);
    expect(details[0]).toBe("token is not known to this control plane");
  });

  it("refuses a signed token whose roles claim is not a valid grant", async () => {
    const id = newId();
    await cp.store.client.execute({
      sql: "INSERT INTO api_tokens (id, subject, roles, expires_at, created_by, created_at) VALUES (?, 'odd', '{}', ?, 'test', ?)",
      args: [id, cp.clock.now() + 3_600_000, cp.clock.now()],
    });
    const token = await signJwt(cp.keys, cp.clock, { sub: "odd", jti: id, roles: { "*": "root" } }, AUDIENCE.operator, 3_600_000);
    expect((await expectRefused(token, 401))[0]).toContain("roles");
  });
});

describe("operator authorization", () => {
  it("a viewer can read but not apply (403), and nothing changes", async () => {
    const viewer = await cp.token({ default: "viewer" }, "viewer");
    await expectJson(await cp.call("GET", "/v1/namespaces/default/jobs", { token: viewer }));
    const before = await snapshotCounts(cp);
    const refused = await expectProblem(await cp.call("POST", "/v1/jobs", { token: viewer, body: jobSpec() }), 403, "forbidden");
    expect(refused.detail).toContain("operator");
    expect(await snapshotCounts(cp)).toEqual(before);

    await applyJson(cp, jobSpec());
    const after = await snapshotCounts(cp);
    await expectProblem(await cp.call("POST", "/v1/namespaces/default/jobs/web/stop", { token: viewer }), 403, "forbidden");
    await expectProblem(await cp.call("DELETE", "/v1/namespaces/default/jobs/web", { token: viewer }), 403, "forbidden");
    expect(await snapshotCounts(cp)).toEqual(after);
  });

  it("a token for namespace A is refused on namespace B, for reads and writes", async () => {
    for (const name of ["team-a", "team-b"]) await expectJson(await cp.call("POST", "/v1/namespaces", { body: { name } }), 201);
    await applyJson(cp, jobSpec({ namespace: "team-b" }));
    const teamA = await cp.token({ "team-a": "operator" }, "team-a-ci");

    // Control: the token works on its own namespace.
    expect((await applyJson(cp, jobSpec({ namespace: "team-a" }), teamA)).changed).toBe(true);

    const before = await snapshotCounts(cp);
    const forbiddenCalls: [string, string, unknown][] = [
      ["POST", "/v1/jobs", jobSpec({ namespace: "team-b", image: "evil:latest" })],
      ["POST", "/v1/namespaces/team-b/jobs/web/stop", undefined],
      ["DELETE", "/v1/namespaces/team-b/jobs/web", undefined],
      ["GET", "/v1/namespaces/team-b", undefined],
      ["GET", "/v1/namespaces/team-b/jobs", undefined],
      ["GET", "/v1/namespaces/team-b/jobs/web", undefined],
      ["GET", "/v1/namespaces/team-b/jobs/web/versions", undefined],
      ["GET", "/v1/namespaces/team-b/jobs/web/events", undefined],
    ];
    for (const [method, path, body] of forbiddenCalls) {
      const problem = await expectProblem(await cp.call(method, path, { token: teamA, body }), 403, "forbidden");
      expect(problem.detail).toContain('"team-b"');
    }
    expect(await snapshotCounts(cp)).toEqual(before);

    const visible = await expectJson<{ namespaces: { name: string }[] }>(await cp.call("GET", "/v1/namespaces", { token: teamA }));
    expect(visible.namespaces.map((n) => n.name)).toEqual(["team-a"]);
    const teamBJob = await expectJson<{ job: { version: number; status: string } }>(await cp.call("GET", "/v1/namespaces/team-b/jobs/web"));
    expect(teamBJob.job).toMatchObject({ version: 1, status: "running" });
  });
});
