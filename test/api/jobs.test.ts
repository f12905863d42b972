// Operator API end to end over a real libSQL file: jobs, namespaces, tokens, join tokens and the public documents.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { applyJson, auditRows, countRows, eventRows, expectJson, expectProblem, jobSpec, snapshotCounts } from "./helpers";

interface JobBody {
  id: string;
  namespace: string;
  name: string;
  type: string;
  status: string;
  version: number;
  createdAt: number;
  updatedAt: number;
}
interface ApplyBody {
  job: JobBody;
  changed: boolean;
}
interface GetJobBody {
  job: JobBody;
  spec: Record<string, unknown>;
  tasks: { slot: number; state: string; desired: string }[];
}
interface VersionsBody {
  versions: { version: number; spec: Record<string, unknown>; createdBy: string; createdAt: number }[];
}

const WEB_YAML = `# a service with an http health check
name: web
image: nginx:1.27
replicas: 2
ports:
  - name: http
    container: 80
health:
  type: http
  port: http
  path: /healthz
  interval: 5s
  timeout: 500ms
`;

let cp: TestControlPlane;

beforeEach(async () => {
  cp = await createTestControlPlane();
});

afterEach(async () => {
  await cp.settled();
  cp.close();
});

describe("jobs", () => {
  it("applies a YAML job and reads it back with defaults filled in and durations in milliseconds", async () => {
    const res = await cp.call("POST", "/v1/jobs", { body: WEB_YAML, headers: { "content-type": "application/yaml" } });
    const applied = await expectJson<ApplyBody>(res);
    expect(applied.changed).toBe(true);
    expect(applied.job).toMatchObject({ id: "default/web", namespace: "default", name: "web", type: "service", status: "running", version: 1 });
    expect(applied.job.createdAt).toBe(cp.clock.now());

    const got = await expectJson<GetJobBody>(await cp.call("GET", "/v1/namespaces/default/jobs/web"));
    expect(got.job.version).toBe(1);
    expect(got.spec).toEqual({
      name: "web",
      namespace: "default",
      type: "service",
      replicas: 2,
      image: "nginx:1.27",
      env: {},
      resources: { cpu: 100, memory: 64 },
      ports: [{ name: "http", container: 80, protocol: "tcp" }],
      constraints: [],
      health: { type: "http", port: "http", path: "/healthz", interval: 5_000, timeout: 500, failures: 3, grace: 0 },
      restart: { attempts: 3, interval: 300_000, delay: 1_000 },
      reschedule: { attempts: 3, interval: 3_600_000, delay: 5_000, maxDelay: 300_000 },
      update: { parallelism: 1, order: "stop-first", minHealthy: 5_000, healthyDeadline: 300_000, progressDeadline: 600_000, autoRevert: false, canary: 0, autoPromote: false, offlineDeadline: 900_000, waves: "none", waveOrder: [] },
      disconnect: { policy: "keep", after: 60_000 },
      stopGrace: 10_000,
      meta: {},
    });
    // No node is enrolled: both slots wait as pending tasks of version 1.
    expect(got.tasks.map((t) => [t.slot, t.state, t.desired])).toEqual([
      [0, "pending", "run"],
      [1, "pending", "run"],
    ]);
  });

  it("applies the same job as JSON to the same stored spec as YAML: unchanged, no new version", async () => {
    await expectJson<ApplyBody>(await cp.call("POST", "/v1/jobs", { body: WEB_YAML, headers: { "content-type": "application/yaml" } }));
    const before = await snapshotCounts(cp);
    cp.clock.advance(1_000);
    const again = await applyJson(cp, jobSpec());
    expect(again.changed).toBe(false);
    expect(again.job.version).toBe(1);
    expect(await snapshotCounts(cp)).toEqual(before);
    const versions = await expectJson<VersionsBody>(await cp.call("GET", "/v1/namespaces/default/jobs/web/versions"));
    expect(versions.versions.map((v) => v.version)).toEqual([1]);
  });

  it("stores a new version only when the spec changes, and lists versions newest first", async () => {
    const v1 = await applyJson(cp, jobSpec());
    expect([v1.changed, v1.job.version]).toEqual([true, 1]);
    cp.clock.advance(1_000);
    const same = await applyJson(cp, jobSpec());
    expect([same.changed, same.job.version]).toEqual([false, 1]);
    cp.clock.advance(1_000);
    const v2 = await applyJson(cp, jobSpec({ image: "nginx:1.28" }));
    expect([v2.changed, v2.job.version]).toEqual([true, 2]);
    cp.clock.advance(1_000);
    const v3 = await applyJson(cp, jobSpec({ image: "nginx:1.29", replicas: 3 }));
    expect([v3.changed, v3.job.version]).toEqual([true, 3]);
    // The count alone is a scale, not a version.
    const scaled = await applyJson(cp, jobSpec({ image: "nginx:1.29", replicas: 3 }));
    expect([scaled.changed, scaled.job.version]).toEqual([false, 3]);

    const versions = await expectJson<VersionsBody>(await cp.call("GET", "/v1/namespaces/default/jobs/web/versions"));
    expect(versions.versions.map((v) => [v.version, v.spec["image"], v.spec["replicas"]])).toEqual([
      [3, "nginx:1.29", 3],
      [2, "nginx:1.28", 2],
      [1, "nginx:1.27", 2],
    ]);
    expect(versions.versions.map((v) => v.createdBy)).toEqual(["bootstrap-admin", "bootstrap-admin", "bootstrap-admin"]);
    const start = Date.UTC(2026, 0, 1);
    expect(versions.versions.map((v) => v.createdAt)).toEqual([start + 3_000, start + 2_000, start]);
    expect(await countRows(cp, "job_versions")).toBe(3);

    const got = await expectJson<GetJobBody>(await cp.call("GET", "/v1/namespaces/default/jobs/web"));
    expect(got.job.version).toBe(3);
    expect(got.spec["replicas"]).toBe(3);
  });

  it("lists the jobs of a namespace by name, and only that namespace's", async () => {
    await expectJson(await cp.call("POST", "/v1/namespaces", { body: { name: "other" } }), 201);
    await applyJson(cp, jobSpec({ name: "zeta" }));
    await applyJson(cp, jobSpec({ name: "alpha", type: "batch" }));
    await applyJson(cp, jobSpec({ name: "elsewhere", namespace: "other" }));
    const list = await expectJson<{ jobs: JobBody[] }>(await cp.call("GET", "/v1/namespaces/default/jobs"));
    expect(list.jobs.map((j) => [j.id, j.type, j.status, j.version])).toEqual([
      ["default/alpha", "batch", "running", 1],
      ["default/zeta", "service", "running", 1],
    ]);
    const other = await expectJson<{ jobs: JobBody[] }>(await cp.call("GET", "/v1/namespaces/other/jobs"));
    expect(other.jobs.map((j) => j.id)).toEqual(["other/elsewhere"]);
  });

  it("records an audit row and an event for every job mutation, and none for a no-op apply", async () => {
    const baseAudit = (await auditRows(cp)).length; // the bootstrap token
    await applyJson(cp, jobSpec());
    await applyJson(cp, jobSpec()); // unchanged: nothing recorded
    await applyJson(cp, jobSpec({ image: "nginx:1.28" }));
    await expectJson(await cp.call("POST", "/v1/namespaces/default/jobs/web/stop"));
    await expectJson(await cp.call("POST", "/v1/namespaces/default/jobs/web/stop")); // already stopped: nothing recorded
    await expectJson(await cp.call("DELETE", "/v1/namespaces/default/jobs/web"));

    const audit = (await auditRows(cp)).slice(baseAudit);
    expect(audit.map((a) => [a.action, a.actor, a.namespace, a.target])).toEqual([
      ["job.apply", "bootstrap-admin", "default", "default/web"],
      ["job.apply", "bootstrap-admin", "default", "default/web"],
      ["job.stop", "bootstrap-admin", "default", "default/web"],
      ["job.delete", "bootstrap-admin", "default", "default/web"],
    ]);
    expect(audit.slice(0, 2).map((a) => JSON.parse(a.detail ?? "null") as unknown)).toEqual([{ version: 1 }, { version: 2 }]);

    const jobEvents = (await eventRows(cp)).filter((e) => e.type.startsWith("job."));
    expect(jobEvents.map((e) => [e.type, e.jobId])).toEqual([
      ["job.version", "default/web"],
      ["job.version", "default/web"],
      ["job.stop", "default/web"],
      ["job.delete", "default/web"],
    ]);
    expect(jobEvents[0]?.message).toBe("version 1 applied by bootstrap-admin");

    // The job's events route shows the same history, newest first, until the job is deleted with its rows kept.
    const events = await expectJson<{ events: { type: string }[] }>(await cp.call("GET", "/v1/namespaces/default/jobs/web/events"));
    expect(events.events.map((e) => e.type).filter((t) => t.startsWith("job."))).toEqual(["job.delete", "job.stop", "job.version", "job.version"]);
  });

  it("stops a job: status stopped, tasks asked to stop, versions kept", async () => {
    await applyJson(cp, jobSpec());
    cp.clock.advance(5_000);
    const stopped = await expectJson<{ job: JobBody }>(await cp.call("POST", "/v1/namespaces/default/jobs/web/stop"));
    expect(stopped.job.status).toBe("stopped");
    expect(stopped.job.updatedAt).toBe(cp.clock.now());
    const got = await expectJson<GetJobBody>(await cp.call("GET", "/v1/namespaces/default/jobs/web"));
    expect(got.job.status).toBe("stopped");
    expect(got.tasks.every((t) => t.desired === "stop" || t.state === "stopped")).toBe(true);
    expect(await countRows(cp, "job_versions")).toBe(1);

    // Applying the same spec to a stopped job starts it again as a new version.
    const restarted = await applyJson(cp, jobSpec());
    expect([restarted.changed, restarted.job.status, restarted.job.version]).toEqual([true, "running", 2]);
  });

  it("refuses to delete a running job with 409 and changes nothing; deletes it once stopped", async () => {
    await applyJson(cp, jobSpec());
    const before = await snapshotCounts(cp);
    const refused = await expectProblem(await cp.call("DELETE", "/v1/namespaces/default/jobs/web"), 409, "conflict");
    expect(refused.detail).toContain("running");
    expect(refused.instance).toBe("/v1/namespaces/default/jobs/web");
    expect(await snapshotCounts(cp)).toEqual(before);

    await expectJson(await cp.call("POST", "/v1/namespaces/default/jobs/web/stop"));
    // As on a remote store, where foreign keys are not assured: the delete removes the job's rows itself.
    await cp.store.client.execute("PRAGMA foreign_keys = OFF");
    const deployments = async () => Number((await cp.store.client.execute("SELECT count(*) AS n FROM deployments")).rows[0]?.["n"]);
    expect(await deployments()).toBe(1);
    const deleted = await expectJson<{ deleted: string }>(await cp.call("DELETE", "/v1/namespaces/default/jobs/web"));
    expect(deleted.deleted).toBe("default/web");
    expect(await countRows(cp, "jobs")).toBe(0);
    expect(await countRows(cp, "job_versions")).toBe(0);
    expect(await countRows(cp, "tasks")).toBe(0);
    expect(await deployments()).toBe(0);
    await expectProblem(await cp.call("GET", "/v1/namespaces/default/jobs/web"), 404, "not-found");
    await expectProblem(await cp.call("DELETE", "/v1/namespaces/default/jobs/web"), 404, "not-found");
  });

  it("answers 404 problems for a job or namespace that does not exist, and writes nothing", async () => {
    const before = await snapshotCounts(cp);
    const missingNs = await expectProblem(await cp.call("POST", "/v1/jobs", { body: jobSpec({ namespace: "nowhere" }) }), 404, "not-found");
    expect(missingNs.detail).toContain("nowhere");
    await expectProblem(await cp.call("GET", "/v1/namespaces/default/jobs/ghost"), 404, "not-found");
    await expectProblem(await cp.call("GET", "/v1/namespaces/default/jobs/ghost/versions"), 404, "not-found");
    await expectProblem(await cp.call("POST", "/v1/namespaces/default/jobs/ghost/stop"), 404, "not-found");
    await expectProblem(await cp.call("GET", "/v1/no/such/route"), 404, "not-found");
    expect(await snapshotCounts(cp)).toEqual(before);
  });
});

describe("namespaces", () => {
  it("creates, lists, gets and deletes a namespace, auditing each change", async () => {
    const created = await expectJson<{ name: string; description: string; createdAt: number }>(
      await cp.call("POST", "/v1/namespaces", { body: { name: "team-a", description: "Team A" } }),
      201,
    );
    expect(created).toEqual({ name: "team-a", description: "Team A", createdAt: cp.clock.now() });

    await expectProblem(await cp.call("POST", "/v1/namespaces", { body: { name: "team-a" } }), 409, "conflict");

    const list = await expectJson<{ namespaces: { name: string }[] }>(await cp.call("GET", "/v1/namespaces"));
    expect(list.namespaces.map((n) => n.name)).toEqual(["default", "team-a"]);
    const got = await expectJson<{ name: string; description: string }>(await cp.call("GET", "/v1/namespaces/team-a"));
    expect(got.description).toBe("Team A");

    const deleted = await expectJson<{ deleted: string }>(await cp.call("DELETE", "/v1/namespaces/team-a"));
    expect(deleted.deleted).toBe("team-a");
    await expectProblem(await cp.call("GET", "/v1/namespaces/team-a"), 404, "not-found");

    const audit = (await auditRows(cp)).filter((a) => a.action.startsWith("namespace."));
    expect(audit.map((a) => [a.action, a.target])).toEqual([
      ["namespace.create", "team-a"],
      ["namespace.delete", "team-a"],
    ]);
  });

  // Product bug: the audit guard of DELETE /v1/namespaces/{namespace} is "NOT EXISTS (namespace)", which also
  // holds when the namespace never existed, so a 404 still records a "namespace.delete" audit row.
  it("deleting a namespace that does not exist answers 404 and records nothing", async () => {
    const before = await snapshotCounts(cp);
    await expectProblem(await cp.call("DELETE", "/v1/namespaces/never-was"), 404, "not-found");
    expect(await snapshotCounts(cp)).toEqual(before);
  });

  it("refuses to delete a namespace that holds jobs (409) or the default namespace", async () => {
    await expectJson(await cp.call("POST", "/v1/namespaces", { body: { name: "busy" } }), 201);
    await applyJson(cp, jobSpec({ namespace: "busy" }));
    const before = await snapshotCounts(cp);
    const refused = await expectProblem(await cp.call("DELETE", "/v1/namespaces/busy"), 409, "conflict");
    expect(refused.detail).toContain("jobs");
    await expectProblem(await cp.call("DELETE", "/v1/namespaces/default"), 409, "conflict");
    expect(await snapshotCounts(cp)).toEqual(before);
    await expectJson(await cp.call("GET", "/v1/namespaces/busy"));
  });

  it("needs a fleet-wide admin to create or delete namespaces", async () => {
    const nsAdmin = await cp.token({ default: "admin" });
    const before = await snapshotCounts(cp);
    await expectProblem(await cp.call("POST", "/v1/namespaces", { token: nsAdmin, body: { name: "sneaky" } }), 403, "forbidden");
    expect(await snapshotCounts(cp)).toEqual(before);
  });
});

describe("operator tokens", () => {
  interface TokenInfo {
    id: string;
    subject: string;
    roles: Record<string, string>;
    expiresAt: number;
    revokedAt: number | null;
    createdBy: string;
  }

  it("issues, lists and revokes a token; the revoked token is then refused with 401", async () => {
    const issued = await expectJson<{ token: string; info: TokenInfo }>(
      await cp.call("POST", "/v1/tokens", { body: { subject: "ci", roles: { default: "operator" }, ttl: "2h" } }),
      201,
    );
    expect(issued.info).toMatchObject({ subject: "ci", roles: { default: "operator" }, revokedAt: null, createdBy: "bootstrap-admin", expiresAt: cp.clock.now() + 7_200_000 });
    expect(issued.token.split(".")).toHaveLength(3);

    // The new token works for what it grants.
    await applyJson(cp, jobSpec(), issued.token);

    const list = await expectJson<{ tokens: TokenInfo[] }>(await cp.call("GET", "/v1/tokens"));
    const listed = list.tokens.find((t) => t.id === issued.info.id);
    expect(listed).toMatchObject({ subject: "ci", revokedAt: null });
    expect(JSON.stringify(list)).not.toContain(issued.token);

    cp.clock.advance(1_000);
    const revokedAt = cp.clock.now();
    const revoked = await expectJson<{ revoked: string }>(await cp.call("DELETE", `/v1/tokens/${issued.info.id}`));
    expect(revoked.revoked).toBe(issued.info.id);
    cp.clock.advance(1_000);
    const before = await snapshotCounts(cp);
    await expectProblem(await cp.call("DELETE", `/v1/tokens/${issued.info.id}`), 404, "not-found");
    await expectProblem(await cp.call("DELETE", "/v1/tokens/no-such-token"), 404, "not-found");
    expect(await snapshotCounts(cp)).toEqual(before);

    const afterList = await expectJson<{ tokens: TokenInfo[] }>(await cp.call("GET", "/v1/tokens"));
    expect(afterList.tokens.find((t) => t.id === issued.info.id)?.revokedAt).toBe(revokedAt);

    const refused = await expectProblem(await cp.call("GET", "/v1/namespaces/default/jobs", { token: issued.token }), 401, "unauthorized");
    expect(refused.detail).toContain("revoked");

    const audit = (await auditRows(cp)).filter((a) => a.target === issued.info.id);
    expect(audit.map((a) => a.action)).toEqual(["token.issue", "token.revoke"]);
  });

  // Product bug: the revoke audit row is guarded on "revoked_at = now", which also matches a token revoked
  // earlier in the same millisecond, so a repeated revoke answers 404 yet records a second "token.revoke".
  it("a repeated revoke within the same millisecond answers 404 and records nothing", async () => {
    const issued = await expectJson<{ info: TokenInfo }>(await cp.call("POST", "/v1/tokens", { body: { subject: "ci", roles: { default: "viewer" } } }), 201);
    await expectJson(await cp.call("DELETE", `/v1/tokens/${issued.info.id}`));
    const before = await snapshotCounts(cp);
    await expectProblem(await cp.call("DELETE", `/v1/tokens/${issued.info.id}`), 404, "not-found");
    expect(await snapshotCounts(cp)).toEqual(before);
  });

  it("lets a fleet admin grant admin, but never an operator", async () => {
    const admin = await expectJson<{ token: string; info: TokenInfo }>(await cp.call("POST", "/v1/tokens", { body: { subject: "second-admin", roles: { "*": "admin" } } }), 201);
    expect(admin.info.roles).toEqual({ "*": "admin" });

    const operator = await cp.token({ "*": "operator" }, "ops");
    const before = await snapshotCounts(cp);
    await expectProblem(await cp.call("POST", "/v1/tokens", { token: operator, body: { subject: "escalate", roles: { "*": "admin" } } }), 403, "forbidden");
    await expectProblem(await cp.call("POST", "/v1/tokens", { token: operator, body: { subject: "escalate", roles: { default: "admin" } } }), 403, "forbidden");
    await expectProblem(await cp.call("GET", "/v1/tokens", { token: operator }), 403, "forbidden");
    expect(await snapshotCounts(cp)).toEqual(before);

    // A namespace admin can hand out roles on its own namespace only.
    const nsAdmin = await cp.token({ default: "admin" }, "ns-admin");
    await expectJson(await cp.call("POST", "/v1/tokens", { token: nsAdmin, body: { subject: "dev", roles: { default: "viewer" } } }), 201);
    await expectProblem(await cp.call("POST", "/v1/tokens", { token: nsAdmin, body: { subject: "dev", roles: { "*": "viewer" } } }), 403, "forbidden");
  });
});

describe("join tokens", () => {
  interface JoinInfo {
    id: string;
    description: string;
    region: string | null;
    maxUses: number | null;
    uses: number;
    expiresAt: number | null;
    revokedAt: number | null;
  }

  it("creates, lists without secrets, and revokes join tokens", async () => {
    const created = await expectJson<{ token: string; info: JoinInfo }>(
      await cp.call("POST", "/v1/join-tokens", { body: { description: "rack 4", region: "eu-west", maxUses: 3, ttl: "1h" } }),
      201,
    );
    expect(created.token.startsWith(`lhj_${created.info.id}.`)).toBe(true);
    expect(created.info).toEqual({
      id: created.info.id,
      description: "rack 4",
      region: "eu-west",
      maxUses: 3,
      uses: 0,
      expiresAt: cp.clock.now() + 3_600_000,
      revokedAt: null,
      createdAt: cp.clock.now(),
    });
    expect(created.info).not.toHaveProperty("hash");

    const listRes = await cp.call("GET", "/v1/join-tokens");
    const listText = await listRes.clone().text();
    const list = await expectJson<{ joinTokens: (JoinInfo & Record<string, unknown>)[] }>(listRes);
    expect(list.joinTokens.map((t) => t.id)).toEqual([created.info.id]);
    const secret = created.token.split(".")[1] ?? "";
    expect(secret.length).toBeGreaterThan(16);
    expect(listText).not.toContain(secret);
    expect(Object.keys(list.joinTokens[0] ?? {}).sort()).toEqual(["createdAt", "description", "expiresAt", "id", "maxUses", "region", "revokedAt", "uses"]);
    // Only the hash of the whole token is stored.
    const stored = await cp.store.client.execute("SELECT hash FROM join_tokens");
    expect(String(stored.rows[0]?.["hash"])).toMatch(/^[0-9a-f]{64}$/);
    expect(String(stored.rows[0]?.["hash"])).not.toContain(secret);

    cp.clock.advance(10);
    const revokedAt = cp.clock.now();
    await expectJson(await cp.call("DELETE", `/v1/join-tokens/${created.info.id}`));
    cp.clock.advance(10);
    const before = await snapshotCounts(cp);
    await expectProblem(await cp.call("DELETE", `/v1/join-tokens/${created.info.id}`), 404, "not-found");
    expect(await snapshotCounts(cp)).toEqual(before);
    const after = await expectJson<{ joinTokens: JoinInfo[] }>(await cp.call("GET", "/v1/join-tokens"));
    expect(after.joinTokens[0]?.revokedAt).toBe(revokedAt);

    const audit = (await auditRows(cp)).filter((a) => a.target === created.info.id);
    expect(audit.map((a) => a.action)).toEqual(["join-token.create", "join-token.revoke"]);
  });

  // Product bug: same guard as operator tokens ("revoked_at = now"), so a repeated revoke in the same
  // millisecond answers 404 yet records a second "join-token.revoke".
  it("a repeated join-token revoke within the same millisecond answers 404 and records nothing", async () => {
    const created = await expectJson<{ info: JoinInfo }>(await cp.call("POST", "/v1/join-tokens", { body: {} }), 201);
    await expectJson(await cp.call("DELETE", `/v1/join-tokens/${created.info.id}`));
    const before = await snapshotCounts(cp);
    await expectProblem(await cp.call("DELETE", `/v1/join-tokens/${created.info.id}`), 404, "not-found");
    expect(await snapshotCounts(cp)).toEqual(before);
  });
});

describe("public documents", () => {
  it("/healthz answers ok without a token", async () => {
    const body = await expectJson<{ status: string; version: string }>(await cp.call("GET", "/healthz", { token: null }));
    expect(body.status).toBe("ok");
    expect(body.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("/openapi.json describes the job routes, the job spec body and the shared components", async () => {
    interface Schema {
      type?: string;
      $ref?: string;
      pattern?: string;
      properties?: Record<string, Schema>;
      required?: string[];
    }
    interface Operation {
      requestBody?: { content: Record<string, { schema: Schema }> };
      parameters?: { name: string; in: string }[];
      responses: Record<string, { content?: Record<string, unknown> }>;
    }
    const doc = await expectJson<{ openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema>; securitySchemes: Record<string, unknown> } }>(
      await cp.call("GET", "/openapi.json", { token: null }),
    );
    expect(doc.openapi).toBe("3.1.0");
    const methods = (path: string) => Object.keys(doc.paths[path] ?? {}).sort();
    expect(methods("/v1/jobs")).toEqual(["post"]);
    expect(methods("/v1/namespaces/{namespace}/jobs")).toEqual(["get"]);
    expect(methods("/v1/namespaces/{namespace}/jobs/{name}")).toEqual(["delete", "get"]);
    expect(methods("/v1/namespaces/{namespace}/jobs/{name}/versions")).toEqual(["get"]);
    expect(methods("/v1/namespaces/{namespace}/jobs/{name}/events")).toEqual(["get"]);
    expect(methods("/v1/namespaces/{namespace}/jobs/{name}/stop")).toEqual(["post"]);
    expect(doc.paths["/v1/namespaces/{namespace}/jobs/{name}"]?.["get"]?.parameters?.map((p) => [p.name, p.in])).toEqual([
      ["namespace", "path"],
      ["name", "path"],
    ]);

    // The apply body is the job spec as written (durations are strings), inline or by reference.
    const apply = doc.paths["/v1/jobs"]?.["post"];
    expect(Object.keys(apply?.requestBody?.content ?? {}).sort()).toEqual(["application/json", "application/yaml"]);
    let body = apply?.requestBody?.content["application/json"]?.schema ?? {};
    if (body.$ref) body = doc.components.schemas[body.$ref.replace("#/components/schemas/", "")] ?? {};
    expect(body.required?.sort()).toEqual(["image", "name"]);
    expect(body.properties?.["stopGrace"]?.type).toBe("string");
    expect(body.properties?.["stopGrace"]?.pattern).toBeDefined();
    expect(Object.keys(apply?.responses["400"]?.content ?? {})).toEqual(["application/problem+json"]);

    for (const name of ["Job", "Task", "Namespace", "TokenInfo", "JoinTokenInfo"]) expect(doc.components.schemas).toHaveProperty(name);
    expect(Object.keys(doc.components.schemas["Job"]?.properties ?? {})).toEqual(expect.arrayContaining(["id", "namespace", "name", "status", "version"]));
    expect(doc.components.securitySchemes["bearerAuth"]).toEqual({ type: "http", scheme: "bearer", bearerFormat: "JWT" });
  });

  it("/docs serves the Swagger UI page", async () => {
    const res = await cp.call("GET", "/docs", { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type") ?? "").toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain("swagger");
    expect(html).toContain("/openapi.json");
  });

  it("/.well-known/jwks.json publishes one Ed25519 public key and nothing private", async () => {
    const jwks = await expectJson<{ keys: Record<string, unknown>[] }>(await cp.call("GET", "/.well-known/jwks.json", { token: null }));
    expect(jwks.keys).toHaveLength(1);
    const key = jwks.keys[0] ?? {};
    expect(key).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig", kid: cp.keys.kid, x: cp.keys.publicJwk.x });
    expect(key).not.toHaveProperty("d");
    expect(Object.keys(key).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x"]);
  });

  it("/v1/schema/job.json is a JSON Schema of the job file, served without a token", async () => {
    const schema = await expectJson<{ $schema: string; type: string; properties: Record<string, { type?: string; pattern?: string }>; required: string[]; additionalProperties: boolean }>(
      await cp.call("GET", "/v1/schema/job.json", { token: null }),
    );
    expect(schema.$schema).toMatch(/json-schema\.org/);
    expect(schema.type).toBe("object");
    expect(schema.required.sort()).toEqual(["image", "name"]);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties["stopGrace"]?.type).toBe("string");
    expect(schema.properties["stopGrace"]?.pattern).toBeDefined();
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(["name", "namespace", "image", "replicas", "resources", "ports", "health"]));
  });
});
