// Enrollment: a join token (hashed at rest, optional expiry, max uses, region binding) buys a node
// record and a short-lived node credential. One write batch: the node row is written only if the
// token is valid, the token use is counted only if the node row was written. A node that names no region
// takes the one its token is bound to (else "global"); one that names another region is refused.
import type { EnrollRequest, EnrollResponse } from "../../api/agent-protocol";
import { enrollRequestSchema } from "../../api/agent-protocol";
import { writeBatch } from "../../db/batch";
import { jwks } from "../auth/keys";
import { decodeJwt } from "jose";
import { issueNodeCredential, verifyNodeCredential } from "../auth/tokens";
import type { ResolvedDeps } from "../context";
import { conflict, forbidden, unauthorized } from "../errors";
import { sha256Hex } from "../hash";
import type { FleetTiming } from "./timing";
import { LIVE_SQL } from "../../db/queries/task-states";
import { issueNodeCertificate } from "../mesh/certificates";

const TOKEN_VALID = `EXISTS (SELECT 1 FROM join_tokens WHERE hash = :hash AND revoked_at IS NULL
  AND (expires_at IS NULL OR expires_at > :now) AND (max_uses IS NULL OR uses < max_uses)
  AND (region IS NULL OR :region IS NULL OR region = :region))`;
const REGION = `coalesce(:region, (SELECT region FROM join_tokens WHERE hash = :hash), 'global')`;

export async function enroll(deps: ResolvedDeps, timing: FleetTiming, body: ReturnType<typeof enrollRequestSchema.parse>): Promise<EnrollResponse> {
  await deps.clock.sync(deps.store.client);
  const now = deps.clock.now();
  const hash = await sha256Hex(body.token);
  const { leaseTtlMs, heartbeatIntervalMs } = await timing.current();
  const continuing = body.previousCredential ? await sameHost(deps, body.previousCredential) : null;
  const args = {
    hash,
    now,
    region: body.region ?? null,
    id: deps.newId(),
    name: body.name,
    labels: JSON.stringify(body.labels),
    cpu: body.capacity.cpu,
    memory: body.capacity.memory,
    portMin: body.capacity.ports?.min ?? 20000,
    portMax: body.capacity.ports?.max ?? 32000,
    agentVersion: body.agentVersion ?? null,
    encryptionKey: body.encryptionKey ? JSON.stringify(body.encryptionKey) : null,
    addresses: JSON.stringify(body.advertise ?? []),
    meshPort: body.mesh?.port ?? null,
    liveSince: now - leaseTtlMs,
    continuing: continuing ? continuing.nodeId : "",
    continuingGen: continuing ? continuing.generation : -1,
  };
  const results = await writeBatch(deps.store.client, [
    {
      // A name held by a node that is still heartbeating is not taken over; a silent one is (the host was
      // rebuilt), and its credential generation rises so older credentials stop working.
      sql: `INSERT INTO nodes (id, name, region, labels, cpu, memory, port_min, port_max, status, eligible, credential_generation,
              agent_version, join_token_id, encryption_key, addresses, mesh_port, created_at, updated_at)
            SELECT :id, :name, ${REGION}, :labels, :cpu, :memory, :portMin, :portMax, 'initializing', 1, 1, :agentVersion,
              (SELECT id FROM join_tokens WHERE hash = :hash), :encryptionKey, :addresses, :meshPort, :now, :now
            WHERE ${TOKEN_VALID}
            ON CONFLICT(name) DO UPDATE SET region = excluded.region, labels = excluded.labels, cpu = excluded.cpu,
              memory = excluded.memory, port_min = excluded.port_min, port_max = excluded.port_max, status = 'initializing',
              credential_generation = nodes.credential_generation + 1, agent_version = excluded.agent_version,
              join_token_id = excluded.join_token_id, encryption_key = excluded.encryption_key, addresses = excluded.addresses, mesh_port = excluded.mesh_port, updated_at = excluded.updated_at
            WHERE nodes.last_heartbeat_at IS NULL OR nodes.last_heartbeat_at < :liveSince OR nodes.status = 'down'
            RETURNING id, credential_generation, region`,
      args,
    },
    { sql: "UPDATE join_tokens SET uses = uses + 1 WHERE hash = :hash AND changes() = 1", args: { hash } },
    {
      sql: `INSERT INTO audit (at, actor, action, target, detail)
            SELECT :now, 'node:' || :name, 'node.enroll', :name, json_object('region', ${REGION}, 'capacity', json(:capacity)) WHERE changes() = 1`,
      args: { now, name: body.name, hash, region: body.region ?? null, capacity: JSON.stringify(body.capacity) },
    },
    {
      // A takeover of an existing name by another host fences everything the name held: those tasks are
      // lost (and re-placed by the scheduler), so the newcomer is never handed another host's leases.
      // The same host re-enrolling (it shows the credential it held) keeps its tasks.
      // Lost from when the old holder's lease lapses (now, for a task it never claimed): until then the old
      // host may still run it, and its slot is not placed again (fencing).
      sql: `UPDATE tasks SET state = 'lost', lost_at = max(:now, coalesce(lease_expires_at, :now)), updated_at = :now
            WHERE node_id = (SELECT id FROM nodes WHERE name = :name AND updated_at = :now AND id != :id)
              AND state IN ${LIVE_SQL}
              AND NOT (node_id = :continuing AND :continuingGen + 1 = (SELECT credential_generation FROM nodes WHERE name = :name))`,
      args,
    },
  ]);
  const row = results[0]?.rows[0];
  if (!row) throw await enrollRefusal(deps, hash, body.region, body.name, now);
  const region = String(row["region"]);
  const nodeId = String(row["id"]);
  const generation = Number(row["credential_generation"]);
  const credential = await issueNodeCredential(deps.keys, deps.clock, nodeId, generation, deps.config.credentialTtl);
  const mesh = body.mesh ? await issueNodeCertificate(deps.keys, nodeId, body.mesh.key, now, deps.config.meshCertTtl) : undefined;
  // The signing key's thumbprint names the cluster: agents pin that key already, and two control planes
  // (staging, prod) never share one.
  return { nodeId, credential, heartbeatIntervalMs, leaseTtlMs, jwks: jwks(deps.keys) as EnrollResponse["jwks"], clusterId: deps.keys.kid, region, ...(mesh ? { mesh } : {}) };
}

/** The node a previous credential belonged to, if it verifies (expiry aside: it may have lapsed offline). */
async function sameHost(deps: ResolvedDeps, credential: string): Promise<{ nodeId: string; generation: number } | null> {
  try {
    const iat = decodeJwt(credential).iat ?? 0;
    const principal = await verifyNodeCredential(deps.keys, { now: () => iat * 1000 }, credential);
    return { nodeId: principal.nodeId, generation: principal.generation };
  } catch {
    return null;
  }
}

/** Explains a refused enrollment; runs only on the failure path. */
async function enrollRefusal(deps: ResolvedDeps, hash: string, region: string | undefined, name: string, now: number) {
  const token = await deps.store.client.execute({ sql: "SELECT revoked_at, expires_at, max_uses, uses, region FROM join_tokens WHERE hash = ?", args: [hash] });
  const t = token.rows[0];
  if (!t) return unauthorized("join token is not valid");
  if (t["revoked_at"] !== null) return unauthorized("join token has been revoked");
  if (t["expires_at"] !== null && Number(t["expires_at"]) <= now) return unauthorized("join token has expired");
  if (t["max_uses"] !== null && Number(t["uses"]) >= Number(t["max_uses"])) return unauthorized("join token has been used up");
  if (t["region"] !== null && region !== undefined && t["region"] !== region) return forbidden(`join token is bound to region "${String(t["region"])}", not "${region}"`);
  return conflict(`a live node named "${name}" is already enrolled`);
}

export type { EnrollRequest };
