// The service catalog, read from the store as it is: a service is a port of a running job's current
// version that names it; its endpoints are that version's tasks running under a live lease, each at its
// node's advertised addresses and the host port its port is published on. A set also names its callers:
// the nodes that may open its endpoints through their mesh port (those running a task that declares it as
// an upstream, and those an ingress of it is served on). Nothing is kept per instance beyond a second's
// cache of the ingress declarations, so every instance (a Worker isolate too) answers the same, and a
// set's index is a digest of the set.
import type { Client } from "@libsql/client";
import { payloadHash } from "../../api/payload-hash";
import { serviceKey, type Endpoint, type ServiceSnapshot } from "../../api/services";
import { jsonCell } from "../../db/batch";
import type { JobSpec } from "../../api/job-spec";
import { constraintHolds, nodeAttribute } from "../scheduler/constraints";

type EndpointRow = [
  service: string,
  namespace: string,
  tags: string[] | null,
  container: number,
  taskId: string,
  jobId: string,
  slot: number,
  version: number,
  nodeId: string,
  health: string | null,
  bound: { container: number; host: number }[] | null,
  nodeName: string,
  region: string,
  addresses: { address: string; scope: "region" | "public" }[] | null,
  meshPort: number | null,
];

/**
 * Every endpoint of the named services (or of all in `namespaces`), healthy or not, with the services
 * that are declared but have none. `names`: "namespace/name" keys.
 */
export async function readServices(client: Client, now: number, scope: { keys: string[]; declaredOnly?: boolean } | { namespaces: string[] }): Promise<ServiceSnapshot[]> {
  const byKey = "keys" in scope;
  const filter = byKey
    ? "(t.namespace || '/' || json_extract(p.value, '$.service.name')) IN (SELECT value FROM json_each(:filter))"
    : "t.namespace IN (SELECT value FROM json_each(:filter))";
  const declaredFilter = byKey
    ? "(j.namespace || '/' || json_extract(p.value, '$.service.name')) IN (SELECT value FROM json_each(:filter))"
    : "j.namespace IN (SELECT value FROM json_each(:filter))";
  const callerFilter = byKey
    ? "(t.namespace || '/' || json_extract(u.value, '$.service')) IN (SELECT value FROM json_each(:filter))"
    : "t.namespace IN (SELECT value FROM json_each(:filter))";
  const args = { now, filter: JSON.stringify(byKey ? scope.keys : scope.namespaces) };
  const [endpoints, declared, upstreamCallers] = await client.batch(
    [
      {
        sql: `SELECT json_group_array(json_array(json_extract(p.value, '$.service.name'), t.namespace, json_extract(p.value, '$.service.tags'),
                json_extract(p.value, '$.container'), t.id, t.job_id, t.slot, t.version, t.node_id, t.health, json(t.bound_ports), n.name, n.region, json(n.addresses), n.mesh_port)) AS v
              FROM tasks t JOIN jobs j ON j.id = t.job_id AND j.status = 'running' AND j.version = t.version
              JOIN job_versions v ON v.job_id = t.job_id AND v.version = t.version, json_each(v.spec, '$.ports') p
              JOIN nodes n ON n.id = t.node_id
              WHERE t.state = 'running' AND t.desired = 'run' AND t.lease_expires_at >= :now
                AND json_extract(p.value, '$.service.name') IS NOT NULL AND ${filter}`,
        args,
      },
      {
        sql: `SELECT json_group_array(DISTINCT j.namespace || '/' || json_extract(p.value, '$.service.name')) AS v
              FROM jobs j JOIN job_versions v ON v.job_id = j.id AND v.version = j.version, json_each(v.spec, '$.ports') p
              WHERE j.status = 'running' AND json_extract(p.value, '$.service.name') IS NOT NULL AND ${declaredFilter}`,
        args,
      },
      {
        // A copy leased but not yet running may be starting: it dials its upstreams as soon as it is up.
        sql: `SELECT json_group_array(DISTINCT json_array(t.namespace || '/' || json_extract(u.value, '$.service'), t.node_id)) AS v
              FROM tasks t JOIN job_versions v ON v.job_id = t.job_id AND v.version = t.version, json_each(v.spec, '$.upstreams') u
              WHERE t.state IN ('leased', 'running') AND t.desired = 'run' AND t.node_id IS NOT NULL AND t.lease_expires_at >= :now AND ${callerFilter}`,
        args,
      },
    ],
    "read",
  );
  const sets = new Map<string, { namespace: string; name: string; endpoints: Endpoint[]; callers: Set<string> }>();
  const setOf = (namespace: string, name: string) => {
    const key = serviceKey(namespace, name);
    let set = sets.get(key);
    if (!set) sets.set(key, (set = { namespace, name, endpoints: [], callers: new Set() }));
    return set;
  };
  for (const key of jsonCell<string[]>(declared?.rows[0], "v") ?? []) {
    const at = key.indexOf("/");
    setOf(key.slice(0, at), key.slice(at + 1));
  }
  // A key asked for by name gets a set even when nothing declares it (an agent then holds its index), unless
  // only declared ones are wanted.
  if (byKey && !scope.declaredOnly) for (const key of scope.keys) if (key.includes("/")) setOf(key.slice(0, key.indexOf("/")), key.slice(key.indexOf("/") + 1));
  for (const [service, namespace, tags, container, taskId, jobId, slot, version, nodeId, health, bound, nodeName, region, addresses, meshPort] of jsonCell<EndpointRow[]>(endpoints?.rows[0], "v") ?? []) {
    const port = (bound ?? []).find((b) => b.container === container)?.host;
    // Not yet reported published (a fresh start): no address to hand out.
    if (port === undefined) continue;
    setOf(namespace, service).endpoints.push({
      taskId,
      jobId,
      slot,
      version,
      nodeId,
      nodeName,
      region,
      addresses: addresses ?? [],
      meshPort: meshPort ?? null,
      port,
      tags: tags ?? [],
      // No health check: running is healthy. A check still starting is not yet.
      healthy: health === null || health === "healthy",
    });
  }
  for (const [key, nodeId] of jsonCell<[string, string][]>(upstreamCallers?.rows[0], "v") ?? []) sets.get(key)?.callers.add(nodeId);
  await addIngressCallers(client, sets);
  const out: ServiceSnapshot[] = [];
  for (const set of [...sets.values()].sort((a, b) => serviceKey(a.namespace, a.name).localeCompare(serviceKey(b.namespace, b.name)))) {
    set.endpoints.sort((a, b) => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0));
    const callers = [...set.callers].sort();
    out.push({ namespace: set.namespace, name: set.name, endpoints: set.endpoints, callers, index: await indexOf([set.endpoints, callers]) });
  }
  return out;
}

export interface IngressDeclaration {
  jobId: string;
  namespace: string;
  ingress: NonNullable<JobSpec["ingress"]>;
}

/** The ingress declarations of running jobs, read at most once a second per instance (and store). */
const INGRESS_CACHE_MS = 1_000;
const ingressCache = new WeakMap<Client, { at: number; declarations: IngressDeclaration[] }>();

export async function ingressDeclarations(client: Client): Promise<IngressDeclaration[]> {
  const now = Date.now();
  const cached = ingressCache.get(client);
  if (cached && now - cached.at <= INGRESS_CACHE_MS && now >= cached.at) return cached.declarations;
  const rows = await client.execute(
    `SELECT json_group_array(json_array(j.id, j.namespace, json_extract(v.spec, '$.ingress'))) AS v
     FROM jobs j JOIN job_versions v ON v.job_id = j.id AND v.version = j.version
     WHERE j.status = 'running' AND json_array_length(v.spec, '$.ingress') > 0`,
  );
  const declarations = (jsonCell<[string, string, IngressDeclaration["ingress"]][]>(rows.rows[0], "v") ?? []).map(([jobId, namespace, ingress]) => ({ jobId, namespace, ingress }));
  ingressCache.set(client, { at: now, declarations });
  return declarations;
}

type IngressNode = { name: string; region: string; labels: Record<string, string> };

/** Whether an ingress entry is served on a node: every one of its node constraints holds there. */
export const servesIngress = (g: IngressDeclaration["ingress"][number], node: IngressNode) => g.nodes.every((c) => constraintHolds(c, nodeAttribute(node, c.attribute)));

/** Adds, to each set an ingress serves, the nodes that ingress listens on: they dial its endpoints too. */
async function addIngressCallers(client: Client, sets: Map<string, { callers: Set<string> }>): Promise<void> {
  const entries = (await ingressDeclarations(client)).flatMap((d) => d.ingress.filter((g) => sets.has(serviceKey(d.namespace, g.service))).map((g) => ({ key: serviceKey(d.namespace, g.service), g })));
  if (entries.length === 0) return;
  for (const node of await liveNodes(client)) {
    for (const { key, g } of entries) if (servesIngress(g, node)) sets.get(key)?.callers.add(node.id);
  }
}

/**
 * The nodes not down, read at most once a second per instance (and store), as the declarations are: a node
 * that serves an ingress asks for its service in every heartbeat, and a read of every node each time would
 * put a fleet-wide scan on the heartbeat path.
 */
const nodesCache = new WeakMap<Client, { at: number; nodes: (IngressNode & { id: string })[] }>();
async function liveNodes(client: Client): Promise<(IngressNode & { id: string })[]> {
  const now = Date.now();
  const cached = nodesCache.get(client);
  if (cached && now - cached.at <= INGRESS_CACHE_MS && now >= cached.at) return cached.nodes;
  const rows = await client.execute("SELECT id, name, region, labels FROM nodes WHERE status != 'down'");
  const nodes = rows.rows.map((r) => ({ id: String(r["id"]), name: String(r["name"]), region: String(r["region"]), labels: JSON.parse(String(r["labels"] ?? "{}")) as Record<string, string> }));
  nodesCache.set(client, { at: now, nodes });
  return nodes;
}

/** A set's index: the first 48 bits of its digest, a safe integer, the same wherever it is computed. */
export async function indexOf(items: readonly unknown[]): Promise<number> {
  const digest = await payloadHash(items);
  let n = 0;
  for (const ch of digest.slice(0, 8)) n = n * 64 + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".indexOf(ch);
  // Never 0: an agent asks with 0 for "none yet".
  return n === 0 ? 1 : n;
}

/** Only the healthy endpoints, with the index of that view: what callers are served by default. */
export async function healthyOnly(s: ServiceSnapshot): Promise<ServiceSnapshot> {
  const endpoints = s.endpoints.filter((e) => e.healthy);
  return { ...s, endpoints, index: await indexOf([endpoints, s.callers]) };
}
