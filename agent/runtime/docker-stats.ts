// The engine's one-shot stats reply as a ContainerStatsSample: a pure conversion, so the figures are tested
// without a container.
import type Dockerode from "dockerode";
import type { ContainerStatsSample } from "./container-runtime";

export function statsSampleOf(s: Dockerode.ContainerStats): ContainerStatsSample {
  const total = s.cpu_stats?.cpu_usage?.total_usage ?? 0;
  const cpuDelta = total - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const systemDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats?.online_cpus || s.cpu_stats?.cpu_usage?.percpu_usage?.length || 1;
  const cpuPercent = cpuDelta > 0 && systemDelta > 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0;
  const mem = s.memory_stats;
  // Like `docker stats`: page cache that can be dropped is not counted as used (cgroup v1 names it
  // total_inactive_file, v2 inactive_file).
  const inactiveFile = mem?.stats?.total_inactive_file ?? mem?.stats?.inactive_file ?? 0;
  const usage = mem?.usage ?? 0;
  return {
    cpuPercent,
    // total_usage is in nanoseconds, on cgroup v1 and v2 alike.
    cpuSeconds: Math.max(0, total) / 1e9,
    memoryBytes: Math.max(0, usage - (inactiveFile < usage ? inactiveFile : 0)),
    memoryLimitBytes: mem?.limit ?? 0,
  };
}
