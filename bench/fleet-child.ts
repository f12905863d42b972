// A hollow fleet in a process of its own, so that the agents' cost is not charged to the benchmark driver or
// the control plane. The driver sends commands over the IPC channel; see remote-fleet.ts for the commands.
// Usage: spawned by RemoteFleet with '{"baseUrl": "...", "index": 0}'.
import { HollowFleet, now } from "./fleet";
import type { FleetCommand, FleetReply, HeldTuple } from "./remote-fleet";

const opts = JSON.parse(process.argv[2] ?? "{}") as { baseUrl: string; index: number };
const fleet = new HollowFleet(opts.baseUrl);
let keepAlive: { stop(): Promise<void> } | null = null;
/** Leases whose agent went longer than the TTL without an answered heartbeat, once watching started. */
const lapsed = new Set<string>();
let lapseTimer: NodeJS.Timeout | undefined;

const handlers: { [K in FleetCommand["op"]]: (args: Extract<FleetCommand, { op: K }>["args"]) => unknown } = {
  enroll: (a) => fleet.enroll(a.joinToken, a.count, a.prefix, a.opts),
  keepAliveStart: (a) => {
    keepAlive = fleet.keepAlive(a.periodMs, a.concurrency);
  },
  keepAliveStop: async () => {
    await keepAlive?.stop();
    keepAlive = null;
  },
  claimAll: (a) => fleet.claimAll(a.concurrency, a.deadline ?? Number.POSITIVE_INFINITY),
  heartbeatAll: (a) => fleet.heartbeatAll(a.concurrency),
  start: (a) => {
    for (const m of fleet.members) fleet.startMember(m, { claimLoop: a.claimLoop, claimWaitMs: a.claimWaitMs });
  },
  leaseCounts: () => fleet.members.map((m) => [m.agent.name, m.agent.leases.size, m.agent.nodeId] as const),
  stopAgents: (a) => {
    const nodes = new Set(a.nodeIds);
    fleet.stopMembers(fleet.members.filter((m) => nodes.has(m.agent.nodeId)));
  },
  held: (): { names: string[]; stopped: boolean[]; leases: HeldTuple[] } => {
    const leases: HeldTuple[] = [];
    fleet.members.forEach((m, i) => {
      for (const l of m.agent.leases.values()) leases.push([i, l.taskId, l.epoch, l.expiresAt, l.state === "stopped" ? 1 : 0]);
    });
    return { names: fleet.members.map((m) => m.agent.name), stopped: fleet.members.map((m) => m.stopped), leases };
  },
  status: () => ({
    counters: { ...fleet.counters },
    failures: [...fleet.failures.entries()],
    revocations: fleet.revocations(),
    agents: fleet.members.length,
    leases: fleet.members.reduce((n, m) => n + m.agent.leases.size, 0),
    ttlMs: fleet.members[0]?.agent.leaseTtlMs ?? 0,
    intervalMs: fleet.members[0]?.agent.heartbeatIntervalMs ?? 0,
  }),
  record: (a) => {
    fleet.recording = a.on;
  },
  takeLatencies: () => fleet.heartbeatLatencies.splice(0),
  unansweredAges: () => fleet.unansweredHeartbeatAges(),
  watchLapses: (a) => {
    const since = now();
    clearInterval(lapseTimer);
    lapseTimer = setInterval(() => {
      const t = now();
      for (const m of fleet.members) {
        if (t - Math.max(m.lastHeartbeatOkAt, since) > a.ttlMs) for (const l of m.agent.leases.values()) lapsed.add(l.taskId);
      }
    }, 250);
  },
  lapsed: () => {
    clearInterval(lapseTimer);
    return lapsed.size;
  },
  heartbeatRequests: () => fleet.members.map((m) => ({ credential: m.agent.credential, body: JSON.stringify(m.agent.heartbeatBody()) })),
  stop: () => fleet.stop(),
};

process.on("message", (msg: FleetCommand & { id: number }) => {
  const handler = handlers[msg.op] as (args: unknown) => unknown;
  Promise.resolve()
    .then(() => handler(msg.args))
    .then(
      (result) => send({ id: msg.id, ok: true, result: result ?? null }),
      (err: unknown) => send({ id: msg.id, ok: false, error: describe(err) }),
    );
});

/** An error's message and, for a network error, its cause ("fetch failed: UND_ERR_HEADERS_TIMEOUT"). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  const detail = typeof cause?.code === "string" ? cause.code : typeof cause?.message === "string" ? cause.message : "";
  return detail ? `${err.message}: ${detail}` : err.message;
}

function send(reply: FleetReply): void {
  process.send?.(reply);
}

process.on("SIGTERM", () => {
  void fleet.stop().finally(() => process.exit(0));
});
process.stdout.write(JSON.stringify({ pid: process.pid, index: opts.index }) + "\n");
