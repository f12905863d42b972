// Shared checks for the API suites: problem+json responses, row counts, and a small job spec.
import { expect } from "vitest";
import type { Problem } from "../../api/problem";
import type { TestControlPlane } from "../support/control-plane";

export const PROBLEM_TYPE_BASE = "urn:leasehold:problem:";

/** The tables a refused request must leave untouched. */
export const WRITE_TABLES = ["namespaces", "jobs", "job_versions", "tasks", "audit", "events", "api_tokens", "join_tokens"] as const;
export type WriteTable = (typeof WRITE_TABLES)[number];

/** Asserts an RFC 9457 problem with this status (and kind, when given) and returns its body. */
export async function expectProblem(res: Response, status: number, kind?: string): Promise<Problem> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type") ?? "").toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as Problem;
  expect(body.status).toBe(status);
  expect(typeof body.type).toBe("string");
  expect(body.type.startsWith(PROBLEM_TYPE_BASE)).toBe(true);
  if (kind !== undefined) expect(body.type).toBe(PROBLEM_TYPE_BASE + kind);
  expect(typeof body.detail).toBe("string");
  expect(body.detail.length).toBeGreaterThan(0);
  expect(typeof body.title).toBe("string");
  return body;
}

/** Asserts a 200/201 JSON response and returns its body. */
export async function expectJson<T>(res: Response, status = 200): Promise<T> {
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${await res.text()}`);
  expect(res.headers.get("content-type") ?? "").toMatch(/^application\/json/);
  return (await res.json()) as T;
}

export async function countRows(cp: TestControlPlane, table: WriteTable): Promise<number> {
  const rs = await cp.store.client.execute(`SELECT count(*) AS n FROM ${table}`);
  return Number(rs.rows[0]?.["n"]);
}

/** Row counts of every table a request could write, for before/after comparison. */
export async function snapshotCounts(cp: TestControlPlane): Promise<Record<WriteTable, number>> {
  const out = {} as Record<WriteTable, number>;
  for (const table of WRITE_TABLES) out[table] = await countRows(cp, table);
  return out;
}

export interface AuditRecord {
  action: string;
  actor: string;
  namespace: string | null;
  target: string | null;
  detail: string | null;
}

export async function auditRows(cp: TestControlPlane): Promise<AuditRecord[]> {
  const rs = await cp.store.client.execute("SELECT action, actor, namespace, target, detail FROM audit ORDER BY id");
  return rs.rows.map((r) => ({
    action: String(r["action"]),
    actor: String(r["actor"]),
    namespace: r["namespace"] === null ? null : String(r["namespace"]),
    target: r["target"] === null ? null : String(r["target"]),
    detail: r["detail"] === null ? null : String(r["detail"]),
  }));
}

export interface EventRecord {
  type: string;
  jobId: string | null;
  message: string;
}

export async function eventRows(cp: TestControlPlane): Promise<EventRecord[]> {
  const rs = await cp.store.client.execute("SELECT type, job_id, message FROM events ORDER BY id");
  return rs.rows.map((r) => ({ type: String(r["type"]), jobId: r["job_id"] === null ? null : String(r["job_id"]), message: String(r["message"]) }));
}

/** A valid job spec (JSON form); override fields per test. */
export function jobSpec(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "web",
    image: "nginx:1.27",
    replicas: 2,
    ports: [{ name: "http", container: 80 }],
    health: { type: "http", port: "http", path: "/healthz", interval: "5s", timeout: "500ms" },
    ...overrides,
  };
}

/** Applies a job as JSON with the admin token and returns the response body. */
export async function applyJson(cp: TestControlPlane, spec: Record<string, unknown>, token?: string): Promise<{ job: { id: string; version: number; status: string }; changed: boolean }> {
  const res = await cp.call("POST", "/v1/jobs", { body: spec, ...(token !== undefined ? { token } : {}) });
  return expectJson(res);
}
