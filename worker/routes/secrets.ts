// Secrets: put (a new version, encrypted at rest, rolled out to the jobs that follow it), list and
// versions (metadata only), value (a separate permission), delete, and rekey. Values are never logged,
// evented or audited: audit rows hold the name and version.
import { createRoute, z } from "@hono/zod-openapi";
import type { InStatement } from "@libsql/client";
import { NAME_PATTERN, NAME_RULE } from "../../api/job-spec";
import { isConstraintError, jsonCell, writeBatch } from "../../db/batch";
import { auditRow, CHANGED, eventRow } from "../audit";
import { requireFleetRole, requireRole } from "../auth/middleware";
import { allows } from "../auth/roles";
import type { App, ResolvedDeps } from "../context";
import type { Evaluator } from "../evaluation";
import { badRequest, conflict, forbidden, notFound, ProblemError } from "../errors";
import { base64ToBytes, bytesToBase64 } from "../secrets/base64";
import { decryptValue, encryptValue, SECRETS_KEY_ENV } from "../secrets/keyring";
import { rollSecretRotations } from "../secrets/rotate";
import { runInBackground } from "./background";
import { bearer, errorResponses, json, namespaceParam } from "./schemas";

export const MAX_SECRET_BYTES = 65_536;

const secretParams = namespaceParam.extend({ name: z.string().regex(NAME_PATTERN, NAME_RULE).openapi({ param: { name: "name", in: "path" } }) });

const versionInfo = z
  .object({ version: z.number(), bytes: z.number(), keyId: z.string(), rollout: z.boolean(), createdBy: z.string(), createdAt: z.number() })
  .openapi("SecretVersion");
const secretInfo = z
  .object({
    namespace: z.string(),
    name: z.string(),
    latest: z.number().describe("The newest version"),
    versions: z.number().describe("How many versions are stored"),
    bytes: z.number().describe("Size of the newest version"),
    updatedAt: z.number(),
    usedBy: z.array(z.string()).describe("Running jobs whose current version uses it"),
  })
  .openapi("SecretInfo");
const rotationInfo = z
  .object({ job: z.string(), version: z.number().nullable().describe("The job version written for it; null when the job changed meanwhile"), deploymentId: z.string().optional() })
  .openapi("SecretRotation");

const putBody = z.strictObject({
  value: z.string().describe("The value, as UTF-8 text or base64 (encoding)"),
  encoding: z.enum(["utf8", "base64"]).default("utf8"),
  rollout: z.boolean().default(true).describe("Roll the jobs that follow the latest of this secret to the new version (false: store it only; they take it at their next apply)"),
});

export function registerSecretRoutes(app: App, deps: ResolvedDeps, evaluator: Evaluator): void {
  const { store, clock } = deps;
  const { client } = store;

  const requireKey = () => {
    if (!deps.secrets.active) throw new ProblemError(409, "secrets-off", "Secrets are off", `the control plane has no ${SECRETS_KEY_ENV}: set it to store secrets`);
    return deps.secrets;
  };

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/namespaces/{namespace}/secrets/{name}",
      summary: "Store a new version of a secret (encrypted at rest) and roll it out to the jobs that follow its latest",
      security: bearer,
      request: { params: secretParams, body: { required: true, content: { "application/json": { schema: putBody } } } },
      responses: { 201: json(z.object({ namespace: z.string(), name: z.string(), version: versionInfo, rollouts: z.array(rotationInfo) }), "Stored"), ...errorResponses },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      const body = c.req.valid("json");
      requireRole(c, namespace, "operator");
      const ring = requireKey();
      const value = decodeValue(body.value, body.encoding);
      const actor = c.get("operator").subject;
      const ns = await client.execute({ sql: "SELECT 1 FROM namespaces WHERE name = ?", args: [namespace] });
      if (ns.rows.length === 0) throw notFound(`namespace "${namespace}" does not exist`);
      let stored: { version: number; keyId: string; createdAt: number } | undefined;
      for (let attempt = 1; !stored; attempt++) {
        const now = clock.now();
        const top = await client.execute({ sql: "SELECT coalesce(max(version), 0) AS v FROM secrets WHERE namespace = ? AND name = ?", args: [namespace, name] });
        const version = Number(top.rows[0]?.["v"] ?? 0) + 1;
        const sealed = await encryptValue(ring, { namespace, name, version }, value);
        try {
          await writeBatch(client, [
            {
              sql: `INSERT INTO secrets (namespace, name, version, ciphertext, iv, key_id, bytes, rollout, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
              args: [namespace, name, version, sealed.ciphertext, sealed.iv, sealed.keyId, value.length, body.rollout ? 1 : 0, actor, now],
            },
            auditRow(now, { actor, action: "secret.put", namespace, target: name, detail: { version, bytes: value.length, rollout: body.rollout } }, CHANGED),
            eventRow(now, { type: "secret.version", message: `secret ${name} version ${version} put by ${actor}${body.rollout ? "" : " (no rollout)"}`, namespace }),
          ]);
          stored = { version, keyId: sealed.keyId, createdAt: now };
        } catch (err) {
          // A racing put took this version number: take the next.
          if (!isConstraintError(err) || attempt >= 5) throw err;
        }
      }
      const rotations = body.rollout ? await rollSecretRotations(deps, actor, { namespace, name }) : [];
      if (rotations.some((r) => r.version !== null)) runInBackground(c, deps, () => evaluator.kick());
      return c.json(
        {
          namespace,
          name,
          version: { version: stored.version, bytes: value.length, keyId: stored.keyId, rollout: body.rollout, createdBy: actor, createdAt: stored.createdAt },
          rollouts: rotations.map((r) => ({ job: r.jobId, version: r.version, ...(r.deploymentId ? { deploymentId: r.deploymentId } : {}) })),
        },
        201,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{namespace}/secrets",
      summary: "List a namespace's secrets: names, versions and users, never values",
      security: bearer,
      request: { params: namespaceParam },
      responses: { 200: json(z.object({ secrets: z.array(secretInfo) }), "Secrets"), ...errorResponses },
    }),
    async (c) => {
      const { namespace } = c.req.valid("param");
      requireRole(c, namespace, "viewer");
      const [list, users] = await Promise.all([
        client.execute({
          sql: `SELECT name, max(version) AS latest, count(*) AS versions, max(created_at) AS updated_at,
                  (SELECT bytes FROM secrets t WHERE t.namespace = s.namespace AND t.name = s.name ORDER BY version DESC LIMIT 1) AS bytes
                FROM secrets s WHERE namespace = ? GROUP BY name ORDER BY name`,
          args: [namespace],
        }),
        usersOf(namespace, null),
      ]);
      return c.json(
        {
          secrets: list.rows.map((r) => ({
            namespace,
            name: String(r["name"]),
            latest: Number(r["latest"]),
            versions: Number(r["versions"]),
            bytes: Number(r["bytes"]),
            updatedAt: Number(r["updated_at"]),
            usedBy: users.get(String(r["name"])) ?? [],
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{namespace}/secrets/{name}/versions",
      summary: "A secret's versions, newest first (metadata only)",
      security: bearer,
      request: { params: secretParams },
      responses: { 200: json(z.object({ namespace: z.string(), name: z.string(), versions: z.array(versionInfo), usedBy: z.array(z.string()) }), "Versions"), ...errorResponses },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      requireRole(c, namespace, "viewer");
      const rows = await client.execute({
        sql: "SELECT version, bytes, key_id, rollout, created_by, created_at FROM secrets WHERE namespace = ? AND name = ? ORDER BY version DESC",
        args: [namespace, name],
      });
      if (rows.rows.length === 0) throw notFound(`there is no secret "${name}" in namespace ${namespace}`);
      const users = await usersOf(namespace, name);
      return c.json(
        {
          namespace,
          name,
          versions: rows.rows.map((r) => ({
            version: Number(r["version"]),
            bytes: Number(r["bytes"]),
            keyId: String(r["key_id"]),
            rollout: Number(r["rollout"]) === 1,
            createdBy: String(r["created_by"]),
            createdAt: Number(r["created_at"]),
          })),
          usedBy: users.get(name) ?? [],
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{namespace}/secrets/{name}/value",
      summary: "Read a secret's value: admins, and tokens with the secret-values permission. Audited",
      security: bearer,
      request: {
        params: secretParams,
        query: z.object({ version: z.coerce.number().int().min(1).optional().describe("Default: the newest") }),
      },
      responses: { 200: json(z.object({ namespace: z.string(), name: z.string(), version: z.number(), value: z.string().describe("base64"), encoding: z.literal("base64") }), "The value"), ...errorResponses },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      const { version } = c.req.valid("query");
      const operator = c.get("operator");
      const mayRead = allows(operator.roles, namespace, "admin") || (allows(operator.roles, namespace, "viewer") && operator.permissions.includes("secret-values"));
      if (!mayRead) throw forbidden(`reading secret values on namespace "${namespace}" needs its admin role or the secret-values permission`);
      const ring = requireKey();
      const rows = await client.execute({
        sql: `SELECT version, ciphertext, iv, key_id FROM secrets WHERE namespace = ? AND name = ? AND (? IS NULL OR version = ?) ORDER BY version DESC LIMIT 1`,
        args: [namespace, name, version ?? null, version ?? null],
      });
      const r = rows.rows[0];
      if (!r) throw notFound(version === undefined ? `there is no secret "${name}" in namespace ${namespace}` : `secret "${name}" has no version ${version}`);
      const at = { namespace, name, version: Number(r["version"]) };
      const value = await decryptValue(ring, at, { ciphertext: String(r["ciphertext"]), iv: String(r["iv"]), keyId: String(r["key_id"]) });
      await writeBatch(client, [auditRow(clock.now(), { actor: operator.subject, action: "secret.read", namespace, target: name, detail: { version: at.version } })]);
      c.header("cache-control", "no-store");
      return c.json({ namespace, name, version: at.version, value: bytesToBase64(value), encoding: "base64" as const }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/namespaces/{namespace}/secrets/{name}",
      summary: "Delete a secret and all its versions; refused while a running job uses it",
      security: bearer,
      request: { params: secretParams },
      responses: { 200: json(z.object({ deleted: z.string(), versions: z.number() }), "Deleted"), ...errorResponses },
    }),
    async (c) => {
      const { namespace, name } = c.req.valid("param");
      requireRole(c, namespace, "operator");
      const users = (await usersOf(namespace, name)).get(name) ?? [];
      if (users.length > 0) throw conflict(`secret "${name}" is used by running jobs: ${users.join(", ")}; stop them or change them first`);
      const now = clock.now();
      const actor = c.get("operator").subject;
      // Conditional on no running job using it, in the same statement: an apply that lands after the check
      // above still keeps the secret.
      const [deleted] = await writeBatch(client, [
        {
          sql: `DELETE FROM secrets WHERE namespace = :ns AND name = :name AND NOT EXISTS (
                  SELECT 1 FROM jobs j JOIN job_versions v ON v.job_id = j.id AND v.version = j.version, json_each(v.secret_versions) r
                  WHERE j.namespace = :ns AND j.status = 'running' AND r.key = :name)`,
          args: { ns: namespace, name },
        },
        auditRow(now, { actor, action: "secret.delete", namespace, target: name }, { sql: "changes() > 0", args: [] }),
      ]);
      const count = deleted?.rowsAffected ?? 0;
      if (count === 0) {
        const left = await client.execute({ sql: "SELECT count(*) AS n FROM secrets WHERE namespace = ? AND name = ?", args: [namespace, name] });
        if (Number(left.rows[0]?.["n"]) > 0) throw conflict(`secret "${name}" is used by a running job; stop it or change it first`);
        throw notFound(`there is no secret "${name}" in namespace ${namespace}`);
      }
      return c.json({ deleted: name, versions: count }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/secrets/rekey",
      summary: `Re-encrypt every stored value under the first key of ${SECRETS_KEY_ENV} (fleet admin); afterwards the older keys can be removed`,
      security: bearer,
      responses: { 200: json(z.object({ keyId: z.string(), rekeyed: z.number(), total: z.number() }), "Rekeyed"), ...errorResponses },
    }),
    async (c) => {
      requireFleetRole(c, "admin");
      const ring = requireKey();
      const active = ring.active!;
      let rekeyed = 0;
      for (;;) {
        const batch = await client.execute({
          sql: "SELECT namespace, name, version, ciphertext, iv, key_id FROM secrets WHERE key_id != ? LIMIT 100",
          args: [active.id],
        });
        if (batch.rows.length === 0) break;
        const writes: InStatement[] = [];
        for (const r of batch.rows) {
          const at = { namespace: String(r["namespace"]), name: String(r["name"]), version: Number(r["version"]) };
          const oldKey = String(r["key_id"]);
          const value = await decryptValue(ring, at, { ciphertext: String(r["ciphertext"]), iv: String(r["iv"]), keyId: oldKey });
          const sealed = await encryptValue(ring, at, value);
          // Conditional on the value still being under the key it was read under: two rekeys never clash.
          writes.push({
            sql: "UPDATE secrets SET ciphertext = ?, iv = ?, key_id = ? WHERE namespace = ? AND name = ? AND version = ? AND key_id = ?",
            args: [sealed.ciphertext, sealed.iv, sealed.keyId, at.namespace, at.name, at.version, oldKey],
          });
        }
        const results = await writeBatch(client, writes);
        rekeyed += results.reduce((n, r) => n + r.rowsAffected, 0);
      }
      const total = await client.execute("SELECT count(*) AS n FROM secrets");
      await writeBatch(client, [auditRow(clock.now(), { actor: c.get("operator").subject, action: "secret.rekey", detail: { keyId: active.id, rekeyed } })]);
      return c.json({ keyId: active.id, rekeyed, total: Number(total.rows[0]?.["n"] ?? 0) }, 200);
    },
  );

  /** The running jobs whose current version uses each secret of the namespace (or only `name`). */
  async function usersOf(namespace: string, name: string | null): Promise<Map<string, string[]>> {
    const rows = await client.execute({
      sql: `SELECT json_group_object(secret, json(jobs)) AS v FROM (
              SELECT r.key AS secret, json_group_array(j.name) AS jobs
              FROM jobs j JOIN job_versions v ON v.job_id = j.id AND v.version = j.version, json_each(v.secret_versions) r
              WHERE j.namespace = ? AND j.status = 'running' AND v.secret_versions IS NOT NULL AND (? IS NULL OR r.key = ?)
              GROUP BY r.key)`,
      args: [namespace, name, name],
    });
    return new Map(Object.entries(jsonCell<Record<string, string[]>>(rows.rows[0], "v") ?? {}));
  }
}

function decodeValue(value: string, encoding: "utf8" | "base64"): Uint8Array<ArrayBuffer> {
  let bytes: Uint8Array<ArrayBuffer>;
  if (encoding === "base64") {
    try {
      bytes = base64ToBytes(value);
    } catch {
      throw badRequest("value: is not base64", [{ path: "value", message: "is not base64" }]);
    }
  } else bytes = new TextEncoder().encode(value) as Uint8Array<ArrayBuffer>;
  if (bytes.length > MAX_SECRET_BYTES) throw badRequest(`value: is ${bytes.length} bytes; a secret holds at most ${MAX_SECRET_BYTES}`, [{ path: "value", message: `at most ${MAX_SECRET_BYTES} bytes` }]);
  return bytes;
}
