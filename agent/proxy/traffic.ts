// The node's traffic: upstream listeners on job networks' gateways, ingress listeners on host ports, each
// balancing the connections it accepts over one service's endpoints, and the catalog that feeds them from
// heartbeat replies.
//
// Invariants: one listener per address and port — an upstream per (gateway, port), shared by the tasks of
// that network; an ingress per host port, on all interfaces. An upstream listener serves only its network's
// subnet (its gateway is a host address any container could dial). Every converge closes the listeners
// no longer wanted and tries again those that could not be opened; one converge runs at a time.
import type { HeartbeatResponse, TaskSpec } from "../../api/agent-protocol";
import { serviceKey, type IngressListener } from "../../api/services";
import type { Logger } from "../log";
import type { Caller } from "./balance";
import { createServiceCatalog, type ServiceCatalog } from "./catalog";
import { listenForward, type Forwarder } from "./tcp-forward";
import type { MeshCredentials } from "../mesh";

export type Upstream = NonNullable<TaskSpec["upstreams"]>[number];

/** Where a task's upstreams are served: its network's gateway, to its subnet only. */
export type UpstreamSite = { gateway: string; subnet: string };

/** An upstream a live task declares, where it is served. */
export type UpstreamWant = UpstreamSite & Upstream & { taskId: string; version: number };

export interface Traffic {
  /** The upstreams of a task about to start, opened now (its first connection finds them); the env that names them. */
  openUpstreams(taskId: string, version: number, site: UpstreamSite, upstreams: readonly Upstream[]): Promise<Record<string, string>>;
  /**
   * The services this node's running tasks serve ("namespace/name"): their sets are held too, for the
   * callers the mesh lets through to them.
   */
  setServed(keys: Iterable<string>): void;
  /** Every live task's upstreams: the whole set wanted now. Listeners no task wants are closed. */
  setUpstreams(wants: readonly UpstreamWant[]): Promise<void>;
  /** What a heartbeat carries for discovery: the services held (by index) and the ingress index held. */
  heartbeatFields(): { services?: Record<string, number>; ingress: number };
  /** Takes the services and ingress listeners of a heartbeat reply. */
  applyReply(reply: Pick<HeartbeatResponse, "services" | "ingress">): Promise<void>;
  /** Tries again listeners that could not be opened. */
  converge(): Promise<void>;
  /**
   * The upstreams served on each gateway (as wanted, whether or not their listener is open yet), for the
   * node's DNS: a service has a name on a job network only where that network's tasks declared it.
   */
  upstreamsByGateway(): Record<string, { service: string; namespace: string; port: number }[]>;
  /** Listeners open now, as "address:port" ("*:port" for ingress). */
  listening(): string[];
  readonly catalog: ServiceCatalog;
  close(): Promise<void>;
}

export interface TrafficOptions {
  caller: Caller;
  log: Logger;
  now?: () => number;
  failureHoldMs?: number;
  mesh?: () => MeshCredentials | undefined;
}

/** The env variable a task finds an upstream's address in: LEASEHOLD_UPSTREAM_<NAME>_ADDR. */
export function upstreamEnvName(service: string): string {
  return `LEASEHOLD_UPSTREAM_${service.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_ADDR`;
}

type Wanted = {
  key: string;
  host: string | undefined;
  port: number;
  /** serviceKey(namespace, name). */
  service: string;
  namespace: string;
  name: string;
  policy: Upstream["policy"];
  subnet: string | undefined;
};

export function createTraffic(opts: TrafficOptions): Traffic {
  const catalog = createServiceCatalog({
    caller: opts.caller,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.failureHoldMs !== undefined ? { failureHoldMs: opts.failureHoldMs } : {}),
    ...(opts.mesh ? { mesh: opts.mesh } : {}),
  });
  let served = new Set<string>();
  let upstreams = new Map<string, Wanted>();
  let ingress = new Map<string, Wanted>();
  let ingressIndex = 0;
  const open = new Map<string, Forwarder>();
  /** Why a wanted listener could not be opened, said once per reason. */
  const failing = new Map<string, string>();
  /** Conflicting upstream declarations already said. */
  const conflictsSaid = new Set<string>();
  let closed = false;

  const wantedNow = (key: string): Wanted | undefined => upstreams.get(key) ?? ingress.get(key);

  function upstreamWanted(wants: readonly UpstreamWant[]): Map<string, Wanted> {
    const out = new Map<string, Wanted & { version: number; taskId: string }>();
    for (const w of wants) {
      const key = `${w.gateway}:${w.port}`;
      const want = { key, host: w.gateway, port: w.port, service: serviceKey(w.namespace, w.service), namespace: w.namespace, name: w.service, policy: w.policy, subnet: w.subnet, version: w.version, taskId: w.taskId };
      const prev = out.get(key);
      // Two tasks of one network asking for different services on one port (two versions of a job during an
      // update, two jobs of a namespace network): the newer version wins, and that is said once.
      if (prev && prev.service !== want.service) {
        const newer = want.version > prev.version || (want.version === prev.version && want.taskId > prev.taskId);
        const [keep, drop] = newer ? [want, prev] : [prev, want];
        const said = `${key} ${keep.taskId} ${drop.taskId}`;
        if (!conflictsSaid.has(said)) {
          conflictsSaid.add(said);
          opts.log.warn("two tasks of one network want different services on one upstream port; serving the newer", {
            listener: key,
            serving: keep.service,
            task: keep.taskId,
            refused: drop.service,
            refusedTask: drop.taskId,
          });
        }
        if (!newer) continue;
      }
      out.set(key, want);
    }
    return out;
  }

  async function openListener(w: Wanted): Promise<Forwarder> {
    const key = w.key;
    return listenForward({
      host: w.host,
      port: w.port,
      ...(w.subnet !== undefined ? { accept: (remote: string) => inSubnet(remote, w.subnet as string) } : {}),
      connect: async () => {
        // Read at each connection: the service and policy of a listener can change without reopening it.
        const now = wantedNow(key);
        if (!now) throw new Error("the listener is closing");
        return (await catalog.pool(now.service).connect(now.policy)).socket;
      },
      onRefused: (why, remote) => opts.log.debug("connection not served", { listener: key, from: remote, why }),
    });
  }

  let running: Promise<void> | null = null;
  let again = false;
  function converge(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await convergeOnce();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  }

  async function convergeOnce(): Promise<void> {
    const wanted = new Map([...upstreams, ...ingress]);
    const services = new Set([...wanted.values()].map((w) => w.service));
    catalog.retain(new Set([...services, ...served]));
    // Held from now on (index 0), so a reply that carries a set before the next heartbeat asked is taken.
    for (const key of services) catalog.pool(key);
    for (const [key, listener] of open) {
      if (wanted.has(key) && !closed) continue;
      open.delete(key);
      await listener.close();
    }
    if (closed) return;
    for (const w of wanted.values()) {
      if (open.has(w.key)) continue;
      try {
        open.set(w.key, await openListener(w));
        if (failing.delete(w.key)) opts.log.info("listening", { listener: w.key, service: w.service });
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        if (failing.get(w.key) !== why) opts.log.warn("cannot listen; trying again", { listener: w.key, service: w.service, error: why });
        failing.set(w.key, why);
      }
    }
    for (const key of failing.keys()) if (!wanted.has(key)) failing.delete(key);
  }

  return {
    catalog,
    async openUpstreams(taskId, version, site, declared) {
      const env: Record<string, string> = {};
      const wants = declared.map((u) => ({ ...site, ...u, taskId, version }));
      for (const u of declared) env[upstreamEnvName(u.service)] = `${site.gateway}:${u.port}`;
      const merged = upstreamWanted(wants);
      for (const [key, w] of merged) if (!upstreams.has(key)) upstreams.set(key, w);
      await converge();
      return env;
    },
    async setUpstreams(wants) {
      upstreams = upstreamWanted(wants);
      await converge();
    },
    setServed(keys) {
      const next = new Set(keys);
      const gone = [...served].some((k) => !next.has(k));
      served = next;
      for (const key of served) catalog.pool(key);
      if (gone) void converge();
    },
    heartbeatFields() {
      const keys = new Set([...upstreams.values(), ...ingress.values()].map((w) => w.service).concat([...served]));
      return { ...(keys.size > 0 ? { services: catalog.request(keys) } : {}), ingress: ingressIndex };
    },
    async applyReply(reply) {
      catalog.apply(reply.services ?? []);
      if (reply.ingress) {
        ingressIndex = reply.ingress.index;
        ingress = ingressWanted(reply.ingress.listeners);
        await converge();
      }
    },
    converge,
    upstreamsByGateway() {
      const out: Record<string, { service: string; namespace: string; port: number }[]> = {};
      for (const w of upstreams.values()) {
        if (w.host === undefined) continue;
        (out[w.host] ??= []).push({ service: w.name, namespace: w.namespace, port: w.port });
      }
      return out;
    },
    listening: () => [...open.values()].map((f) => `${f.host ?? "*"}:${f.port}`),
    async close() {
      closed = true;
      await converge();
    },
  };

  function ingressWanted(listeners: readonly IngressListener[]): Map<string, Wanted> {
    const out = new Map<string, Wanted>();
    for (const l of listeners) {
      const key = `*:${l.port}`;
      if (out.has(key)) continue;
      out.set(key, { key, host: undefined, port: l.port, service: serviceKey(l.namespace, l.service), namespace: l.namespace, name: l.service, policy: "round-robin", subnet: undefined });
    }
    return out;
  }
}

/** Whether an IPv4 address lies in a CIDR; anything else (IPv6, malformed) does not. */
export function inSubnet(address: string, cidr: string): boolean {
  const ip = ipv4(address);
  const [base, bitsText] = cidr.split("/");
  const net = base !== undefined ? ipv4(base) : undefined;
  const bits = Number(bitsText);
  if (ip === undefined || net === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((ip & mask) >>> 0) === ((net & mask) >>> 0);
}

function ipv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0);
}
