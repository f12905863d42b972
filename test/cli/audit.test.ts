// leasehold audit in-process against a real control plane: the table, the filters (-n before or after the
// command), --json, following pages past the API's page size up to --limit, and refusals.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEntry } from "../../api/audit";
import { shortDetail } from "../../cli/commands/audit";
import { startCliHarness, type CliHarness } from "./harness";

let h: CliHarness;
let alice: string;

const job = (name: string, namespace = "default") => ({ name, namespace, image: "leasehold-test/busybox:latest", replicas: 1 });

/** A write made with another token than the harness's admin one. */
async function writeAs(token: string, method: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(h.server.url + path, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
}

// The trail: the bootstrap token, then alice's token and namespace prod by the bootstrap admin, web applied
// in default by the bootstrap admin, and api applied and scaled in prod by alice.
beforeEach(async () => {
  h = await startCliHarness();
  ({ token: alice } = await h.api<{ token: string }>("POST", "/v1/tokens", { subject: "alice", roles: { "*": "admin" } }));
  await h.api("POST", "/v1/namespaces", { name: "prod" });
  await h.api("POST", "/v1/jobs", job("web"));
  await writeAs(alice, "POST", "/v1/jobs", job("api", "prod"));
  await writeAs(alice, "POST", "/v1/namespaces/prod/jobs/api/scale", { replicas: 2 });
});

afterEach(async () => {
  await h.close();
});

const column = (stdout: string, header: string) => {
  const [head, ...lines] = stdout.trimEnd().split("\n");
  const start = head!.indexOf(header);
  return lines.map((l) => l.slice(start).split(/\s{2,}/)[0]);
};

describe("leasehold audit", () => {
  it("prints the trail newest first as a table", async () => {
    const run = await h.cli(["audit"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe("");
    expect(run.stdout.split("\n")[0]).toMatch(/^TIME\s+ACTOR\s+ACTION\s+NAMESPACE\s+TARGET\s+DETAIL$/);
    expect(column(run.stdout, "ACTION")).toEqual(["job.scale", "job.apply", "job.apply", "namespace.create", "token.issue", "token.issue"]);
    expect(column(run.stdout, "ACTOR").slice(0, 4)).toEqual(["alice", "alice", "bootstrap-admin", "bootstrap-admin"]);
    expect(column(run.stdout, "NAMESPACE")).toEqual(["prod", "prod", "default", "prod", "-", "-"]);
    const scale = run.stdout.split("\n")[1]!;
    expect(scale).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}  alice/);
    expect(scale).toMatch(/prod\/api\s+from=1 to=2 version=1$/);
  });

  it("filters by namespace (before or after the command), actor, action and time", async () => {
    for (const args of [["-n", "prod", "audit"], ["audit", "--namespace", "prod"]]) {
      const run = await h.cli(args);
      expect(run.code, run.stderr).toBe(0);
      expect(column(run.stdout, "ACTION")).toEqual(["job.scale", "job.apply", "namespace.create"]);
    }
    expect(column((await h.cli(["audit", "--actor", "alice"])).stdout, "ACTION")).toEqual(["job.scale", "job.apply"]);
    expect(column((await h.cli(["audit", "--action", "token."])).stdout, "TARGET")).toHaveLength(2);
    expect(column((await h.cli(["audit", "--action", "job.apply"])).stdout, "TARGET")).toEqual(["prod/api", "default/web"]);
    expect(column((await h.cli(["audit", "--since", "1h"])).stdout, "ACTION")).toHaveLength(6);
    const none = await h.cli(["audit", "--until", "2000-01-01T00:00:00Z"]);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toBe("no audit entries match\n");
  });

  it("prints JSON with --json or -o json", async () => {
    for (const args of [["audit", "--actor", "alice", "--json"], ["-o", "json", "audit", "--actor", "alice"]]) {
      const run = await h.cli(args);
      expect(run.code, run.stderr).toBe(0);
      const body = JSON.parse(run.stdout) as { entries: AuditEntry[]; next: string | null };
      expect(body.next).toBeNull();
      expect(body.entries.map((e) => [e.action, e.namespace, e.target])).toEqual([
        ["job.scale", "prod", "prod/api"],
        ["job.apply", "prod", "prod/api"],
      ]);
      expect(body.entries[0]!.detail).toEqual({ from: 1, to: 2, version: 1 });
    }
  });

  it("follows pages past the API's 1000 up to --limit, and says when more match", async () => {
    // More rows than two of the API's pages hold, written straight to the store: 2,100 API calls would only be slower.
    await h.server.controlPlane.deps.store.client.execute(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2100)
       INSERT INTO audit (at, actor, action, target) SELECT ${Date.now()} - i, 'bulk', 'node.eligible', 'node-' || i FROM n`,
    );
    const run = await h.cli(["audit", "--actor", "bulk", "--limit", "2050", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const body = JSON.parse(run.stdout) as { entries: AuditEntry[]; next: string | null };
    expect(body.entries.map((e) => e.target)).toEqual(Array.from({ length: 2050 }, (_, i) => `node-${i + 1}`));
    expect(body.next).not.toBeNull();

    const all = await h.cli(["audit", "--actor", "bulk", "--limit", "5000", "--json"]);
    expect((JSON.parse(all.stdout) as { entries: AuditEntry[]; next: string | null }).entries).toHaveLength(2100);

    const table = await h.cli(["audit", "--actor", "bulk"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.trimEnd().split("\n")).toHaveLength(101);
    expect(table.stderr).toBe("the newest 100 shown; more match (a larger --limit shows them)\n");
  });

  it("reports refused and invalid requests with the offending field", async () => {
    const bad = await h.cli(["audit", "--since", "yesterday"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: request is invalid\n  query\.since: must be an RFC 3339 time/);
    const badLimit = await h.cli(["audit", "--limit", "0"]);
    expect(badLimit.code).toBe(1);
    expect(badLimit.stderr).toContain("--limit");

    const { token: operator } = await h.api<{ token: string }>("POST", "/v1/tokens", { subject: "olga", roles: { "*": "operator" } });
    const refused = await h.cli(["audit"], { env: { LEASEHOLD_TOKEN: operator } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('error: this needs a fleet-wide admin role (namespace "*")\n');
  });

  it("shortens a detail to key=value pairs on one line", () => {
    expect(shortDetail(null)).toBe("");
    expect(shortDetail({ version: 2, rollout: true, cause: { secret: "db", version: 3 }, none: null })).toBe('version=2 rollout=true cause={"secret":"db","version":3}');
    expect(shortDetail({ description: "a\nlong " + "x".repeat(80) })).toHaveLength(60);
    expect(shortDetail({ description: "a\nb" })).toBe("description=a b");
  });
});
