// GET /v1/audit against a real libSQL file: writes by two actors in two namespaces, read back through the
// filters, paged across a write made between pages, refused to non-admins, and bad queries with field paths.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEntry, AuditPage } from "../../api/audit";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { applyJson, expectJson, expectProblem, jobSpec } from "./helpers";

const SECRETS_KEY = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
const SECRET_VALUE = "correct-horse-battery-staple";

let cp: TestControlPlane;
let alice: string;

beforeEach(async () => {
  cp = await createTestControlPlane({ secretsKey: SECRETS_KEY });
  alice = await cp.token({ "*": "admin" }, "alice");
});

afterEach(async () => {
  await cp.settled();
  cp.close();
});

const minute = 60_000;

/**
 * The trail the tests read, a minute apart unless said: bootstrap-admin creates namespace prod and applies
 * web in default; alice applies api in prod, scales it, and puts a secret in prod; then bootstrap-admin
 * stops web. Namespace creation and the token issues of set-up come before.
 */
async function writeTrail(): Promise<void> {
  await expectJson(await cp.call("POST", "/v1/namespaces", { body: { name: "prod" } }), 201);
  cp.clock.advance(minute);
  await applyJson(cp, jobSpec({ name: "web" }));
  cp.clock.advance(minute);
  await applyJson(cp, jobSpec({ name: "api", namespace: "prod" }), alice);
  cp.clock.advance(minute);
  await expectJson(await cp.call("POST", "/v1/namespaces/prod/jobs/api/scale", { token: alice, body: { replicas: 3 } }));
  cp.clock.advance(minute);
  await expectJson(await cp.call("PUT", "/v1/namespaces/prod/secrets/db-password", { token: alice, body: { value: SECRET_VALUE } }), 201);
  cp.clock.advance(minute);
  await expectJson(await cp.call("POST", "/v1/namespaces/default/jobs/web/stop"));
}

async function audit(query = "", token?: string): Promise<AuditPage> {
  return expectJson<AuditPage>(await cp.call("GET", `/v1/audit${query}`, token === undefined ? {} : { token }));
}

const actions = (entries: AuditEntry[]) => entries.map((e) => e.action);

describe("GET /v1/audit", () => {
  it("reads every write newest first, with its actor, namespace, target and detail", async () => {
    await writeTrail();
    const page = await audit();
    expect(page.next).toBeNull();
    expect(actions(page.entries)).toEqual(["job.stop", "secret.put", "job.scale", "job.apply", "job.apply", "namespace.create", "token.issue"]);
    const [stop, put, scale] = page.entries;
    expect(stop).toMatchObject({ actor: "bootstrap-admin", namespace: "default", target: "default/web", detail: null });
    expect(put).toMatchObject({ actor: "alice", namespace: "prod", target: "db-password", detail: { version: 1, bytes: SECRET_VALUE.length } });
    expect(scale).toMatchObject({ actor: "alice", namespace: "prod", target: "prod/api", detail: { from: 2, to: 3 } });
    // Times are the control plane's clock at each write, and fall as the list goes on.
    expect(stop!.at).toBe(cp.clock.now());
    const times = page.entries.map((e) => e.at);
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it("never serves a secret's value, in any form", async () => {
    await writeTrail();
    await expectJson(await cp.call("GET", "/v1/namespaces/prod/secrets/db-password/value", { token: alice }));
    const res = await cp.call("GET", "/v1/audit?action=secret.");
    const text = await res.text();
    expect(res.status).toBe(200);
    expect((JSON.parse(text) as AuditPage).entries.map((e) => e.action)).toEqual(["secret.read", "secret.put"]);
    for (const form of [SECRET_VALUE, btoa(SECRET_VALUE), Buffer.from(SECRET_VALUE).toString("hex")]) expect(text).not.toContain(form);
  });

  it("filters by namespace, actor, action (exact and by prefix) and time", async () => {
    await writeTrail();
    expect(actions((await audit("?namespace=prod")).entries)).toEqual(["secret.put", "job.scale", "job.apply", "namespace.create"]);
    expect(actions((await audit("?actor=alice")).entries)).toEqual(["secret.put", "job.scale", "job.apply"]);
    expect(actions((await audit("?actor=alice&namespace=default")).entries)).toEqual([]);
    const applies = (await audit("?action=job.apply")).entries;
    expect(applies.map((e) => e.target)).toEqual(["prod/api", "default/web"]);
    expect(actions((await audit("?action=job.")).entries)).toEqual(["job.stop", "job.scale", "job.apply", "job.apply"]);
    // "job" alone is an exact action no write has: the prefix form needs its dot.
    expect((await audit("?action=job")).entries).toEqual([]);

    // A duration counts back from the control plane's clock: the last two writes are within 1m30s.
    const recent = await audit("?since=1m30s");
    expect(actions(recent.entries)).toEqual(["job.stop", "secret.put"]);
    expect(recent.since).toBe(cp.clock.now() - 90_000);
    expect(recent.until).toBeNull();

    // RFC 3339 bounds: since inclusive, until exclusive. The clock started at 2026-01-01T00:00:00Z.
    const window = await audit(`?since=${encodeURIComponent("2026-01-01T00:02:00Z")}&until=${encodeURIComponent("2026-01-01T01:04:00+01:00")}`);
    expect(actions(window.entries)).toEqual(["job.scale", "job.apply"]);
    expect(window.since).toBe(Date.UTC(2026, 0, 1, 0, 2));
    expect(window.until).toBe(Date.UTC(2026, 0, 1, 0, 4));
    expect(actions((await audit("?until=4m")).entries)).toEqual(["namespace.create", "token.issue"]);
  });

  it("pages newest first with a cursor, with no repeat and no gap across a write made between pages", async () => {
    await writeTrail();
    // Writes that share one time, so the pages also have to break ties (by id).
    for (const name of ["a", "b", "c"]) await expectJson(await cp.call("PUT", `/v1/namespaces/default/secrets/${name}`, { body: { value: "x" } }), 201);
    const before = (await audit("?limit=1000")).entries;
    expect(before).toHaveLength(10);

    const seen: AuditEntry[] = [];
    let page = await audit("?limit=3");
    seen.push(...page.entries);
    // Written after the first page, and at the same time as the newest rows: it sorts before the cursor.
    await expectJson(await cp.call("PUT", "/v1/namespaces/default/secrets/d", { body: { value: "x" } }), 201);
    while (page.next !== null) {
      expect(page.entries).toHaveLength(3);
      page = await audit(`?limit=3&cursor=${page.next}`);
      seen.push(...page.entries);
    }
    expect(seen.map((e) => e.id)).toEqual(before.map((e) => e.id));
    expect(page.entries).toHaveLength(1);

    // The next read from the top sees the new write first.
    expect((await audit("?limit=1")).entries[0]).toMatchObject({ action: "secret.put", target: "d" });
    // A cursor keeps the filters it is given with it: prod's rows, two at a time.
    const prod1 = await audit("?namespace=prod&limit=2");
    const prod2 = await audit(`?namespace=prod&limit=2&cursor=${prod1.next}`);
    expect([...actions(prod1.entries), ...actions(prod2.entries)]).toEqual(["secret.put", "job.scale", "job.apply", "namespace.create"]);
    expect(prod2.next).toBeNull();
  });

  it("is refused to tokens that are not admin, and limited to its namespace for a namespace's admin", async () => {
    await writeTrail();
    const operator = await cp.token({ "*": "operator" }, "olga");
    const viewer = await cp.token({ default: "viewer" }, "vic");
    const prodAdmin = await cp.token({ prod: "admin" }, "pat");
    await expectProblem(await cp.call("GET", "/v1/audit", { token: operator }), 403, "forbidden");
    await expectProblem(await cp.call("GET", "/v1/audit?namespace=default", { token: operator }), 403, "forbidden");
    await expectProblem(await cp.call("GET", "/v1/audit", { token: viewer }), 403, "forbidden");
    await expectProblem(await cp.call("GET", "/v1/audit", { token: null }), 401, "unauthorized");
    // An admin of prod only: not the fleet-wide rows, not default's, but prod's.
    await expectProblem(await cp.call("GET", "/v1/audit", { token: prodAdmin }), 403, "forbidden");
    await expectProblem(await cp.call("GET", "/v1/audit?namespace=default", { token: prodAdmin }), 403, "forbidden");
    const own = await audit("?namespace=prod", prodAdmin);
    expect(new Set(own.entries.map((e) => e.namespace))).toEqual(new Set(["prod"]));
  });

  it("answers bad query values with 400 and their field paths", async () => {
    const paths = async (query: string) => (await expectProblem(await cp.call("GET", `/v1/audit${query}`), 400, "validation")).errors?.map((e) => e.path);
    expect(await paths("?since=yesterday")).toEqual(["query.since"]);
    expect(await paths("?since=2026-02-30T00:00:00Z")).toEqual(["query.since"]);
    expect(await paths("?until=2026-01-01")).toEqual(["query.until"]);
    expect(await paths("?limit=0")).toEqual(["query.limit"]);
    expect(await paths("?limit=1001")).toEqual(["query.limit"]);
    expect(await paths("?limit=ten")).toEqual(["query.limit"]);
    expect(await paths("?limit=2.5&since=soon")).toEqual(["query.since", "query.limit"]);
    expect(await paths("?cursor=bm90LWEtY3Vyc29y")).toEqual(["query.cursor"]);
    expect(await paths("?action=secret.*")).toEqual(["query.action"]);
    expect(await paths("?namespace=Prod")).toEqual(["query.namespace"]);
    expect(await paths("?since=1m&until=2m")).toEqual(["query.until"]);
    const detail = (await expectProblem(await cp.call("GET", "/v1/audit?since=yesterday"), 400)).detail;
    expect(detail).toContain("RFC 3339");
  });

  it("is described in the OpenAPI document with its filters and response", async () => {
    const doc = await expectJson<{ paths: Record<string, { get?: { parameters?: { name: string }[]; responses: Record<string, unknown> } }>; components: { schemas: Record<string, unknown> } }>(await cp.call("GET", "/openapi.json", { token: null }));
    const op = doc.paths["/v1/audit"]?.get;
    expect(op?.parameters?.map((p) => p.name).sort()).toEqual(["action", "actor", "cursor", "limit", "namespace", "since", "until"]);
    expect(Object.keys(op?.responses ?? {})).toContain("200");
    expect(doc.components.schemas).toHaveProperty("AuditPage");
    expect(doc.components.schemas).toHaveProperty("AuditEntry");
  });
});
