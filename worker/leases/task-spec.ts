// The task spec a lease is granted for (its payload, sent beside the token, which carries its hash):
// what an agent needs from the job version to run one slot.
import { modeBits, restartMode, type JobSpec } from "../../api/job-spec";
import type { TaskSpec } from "../../api/agent-protocol";

export function taskSpecOf(jobId: string, slot: number, version: number, spec: JobSpec, secretVersions: Record<string, number> | null = null): TaskSpec {
  // Names and versions only: the values travel sealed to the node (see worker/secrets/seal-task.ts).
  const secrets = (spec.secrets ?? []).map((s) => ({
    name: s.name,
    version: secretVersions?.[s.name] ?? s.version ?? 0,
    ...(s.file !== undefined ? { file: s.file, mode: modeBits(s.mode ?? "0400") } : { env: s.env }),
  }));
  const config = (spec.config ?? []).map((f) => ({ file: f.file, mode: modeBits(f.mode ?? "0444") }));
  return {
    jobId,
    namespace: spec.namespace,
    job: spec.name,
    slot,
    version,
    type: spec.type,
    image: spec.image,
    ...(spec.command ? { command: spec.command } : {}),
    env: spec.env,
    resources: spec.resources,
    // The service a port serves goes with it: the node's mesh opens that port to the service's callers only.
    ports: spec.ports.map((p) => ({ name: p.name, container: p.container, ...(p.host !== undefined ? { host: p.host } : {}), protocol: p.protocol, ...(p.service ? { service: p.service.name } : {}) })),
    ...(spec.health ? { health: spec.health } : {}),
    restart: { mode: restartMode(spec), attempts: spec.restart.attempts, intervalMs: spec.restart.interval, delayMs: spec.restart.delay },
    disconnect: { policy: spec.disconnect.policy, afterMs: spec.disconnect.after },
    stopGraceMs: spec.stopGrace,
    ...(secrets.length > 0 ? { secrets } : {}),
    ...(config.length > 0 ? { config } : {}),
    ...(secrets.length > 0 || config.length > 0 ? { sealed: true } : {}),
    ...(spec.upstreams?.length
      ? { upstreams: spec.upstreams.map((u) => ({ service: u.service, namespace: u.namespace ?? spec.namespace, port: u.port, policy: u.policy })) }
      : {}),
    ...(spec.network ? { network: spec.network } : {}),
  };
}
