// Seeded faults: agent crashes, partitions (each way, both, one instance), instance crashes between
// store calls, clock skew, slow and duplicated messages. And the heal that ends them.
import type { World } from "./world";
import { TTL_MS, HEARTBEAT_MS } from "./world";

/** Skew stays within what the lease timing can absorb: TTL − heartbeat interval (±2 s at 1 s / 3 s). */
const MAX_SKEW_MS = TTL_MS - HEARTBEAT_MS;
/**
 * An agent process stays down at most this long. While it is down nothing self-fences its containers
 * (Docker runs on), so longer outages would let a cut-off copy outlive the fence window by the
 * simulator's choice, not the control plane's fault.
 */
const MAX_AGENT_DOWN_MS = 1_500;

export function injectFault(w: World): void {
  const r = w.faults;
  const kind = r.pick(["agent-crash", "partition", "partition", "partition", "instance-crash", "skew", "slow", "duplicates"] as const);
  if (kind === "agent-crash") {
    const a = r.pick(w.agents);
    if (a.crashed) return;
    a.crash();
    const down = r.int(200, MAX_AGENT_DOWN_MS);
    w.step(a.name, `CRASH agent (down ${down}ms; containers keep running)`);
    w.at(w.now + down, async () => {
      if (!a.crashed) return;
      await a.restart(w.now);
    }, `restart ${a.name}`);
  } else if (kind === "partition") {
    const a = r.pick(w.agents);
    const mode = r.pick(["out", "in", "both", "one-instance"] as const);
    const until = w.now + r.int(500, 6_000);
    const instance = mode === "one-instance" ? r.int(0, w.instances.length - 1) : null;
    w.partitions.set(a, { until, out: mode === "out" || mode === "both", in: mode === "in" || mode === "both", instance });
    w.step(a.name, `PARTITION ${mode === "out" ? "agent→cp dropped" : mode === "in" ? "cp→agent dropped" : mode === "both" ? "both ways" : `from i${instance} only`} for ${until - w.now}ms`);
  } else if (kind === "instance-crash") {
    // One dead instance at a time, so requests always have somewhere to go.
    if (w.instances.some((i) => i.crashed || i.armed)) return;
    const slot = r.int(0, w.instances.length - 1);
    const inst = w.instances[slot];
    if (!inst) return;
    const mode = r.pick(["before", "after"] as const);
    const atCall = inst.calls + r.int(1, 80);
    inst.arm({ atCall, mode });
    w.step(inst.name, `ARMED crash at store call ${atCall} (${mode})`);
  } else if (kind === "skew") {
    const slot = r.int(0, w.instances.length - 1);
    const skew = r.int(-MAX_SKEW_MS, MAX_SKEW_MS);
    w.skews[slot] = skew;
    const inst = w.instances[slot];
    if (inst) inst.clock.skewMs = skew;
    w.step(`i${slot}`, `SKEW ${skew}ms`);
  } else if (kind === "slow") {
    w.slowUntil = w.now + r.int(1_000, 4_000);
    w.step("net", `SLOW messages take up to 400ms for ${w.slowUntil - w.now}ms`);
  } else {
    w.dupProb = r.pick([0.02, 0.1, 0.25]);
    w.step("net", `DUPLICATES ${Math.round(w.dupProb * 100)}% of messages`);
  }
}

/** Faults stop: partitions heal, crashed agents and instances come back, clocks agree, the network is quiet. */
export async function heal(w: World): Promise<void> {
  w.healed = true;
  w.partitions.clear();
  w.slowUntil = 0;
  w.dupProb = 0;
  for (const [slot, inst] of w.instances.entries()) {
    w.skews[slot] = 0;
    inst.clock.skewMs = 0;
    if (!inst.crashed) inst.arm(null);
  }
  for (const [slot, inst] of w.instances.entries()) if (inst.crashed) await w.replace(slot);
  for (const a of w.agents) if (a.crashed) await a.restart(w.now);
  w.step("sim", "HEAL: faults stop");
}
