// The supervisor's networking, composed: each task's job network (job-networks.ts) and the upstreams served
// on its gateway (proxy/traffic.ts), named by the node's DNS there (node-dns.ts). A task's network is made and
// its upstreams and their names served before its container is made, so the container's env and DNS name
// addresses that answer from its first moment.
import { errorText, type Logger } from "../log";
import { upstreamEnvName, type Traffic, type UpstreamWant } from "../proxy/traffic";
import type { TaskNetworking } from "../supervisor";
import { networkAliases, type JobNetworks } from "./job-networks";
import type { NodeDns } from "./node-dns";

/** `dns` absent: the node serves no DNS, and containers resolve through the engine's default. */
export function createTaskNetworking(deps: { networks: JobNetworks; traffic: Traffic; dns?: NodeDns; log: Logger }): TaskNetworking {
  return {
    async prepare({ taskId, spec }) {
      const info = await deps.networks.ensure(spec);
      const network = { name: info.name, aliases: networkAliases(spec) };
      if (!spec.upstreams?.length) return { network, env: {}, upstreams: new Map() };
      const env = await deps.traffic.openUpstreams(taskId, spec.version, { gateway: info.gateway, subnet: info.subnet }, spec.upstreams);
      // Read back from the env, so a config file's {{ upstream "x" }} is the very LEASEHOLD_UPSTREAM_X_ADDR.
      const upstreams = new Map<string, string>();
      for (const u of spec.upstreams) {
        const address = env[upstreamEnvName(u.service)];
        if (address !== undefined) upstreams.set(u.service, address);
      }
      if (!deps.dns) return { network, env, upstreams };
      await deps.dns.refresh();
      // Only a gateway that answers: a container whose one nameserver is silent resolves nothing at all.
      return { network, env, upstreams, ...(deps.dns.serving(info.gateway) ? { dns: [info.gateway] } : {}) };
    },
    async settle(tasks) {
      const wants: UpstreamWant[] = [];
      for (const { taskId, spec } of tasks) {
        if (!spec.upstreams?.length) continue;
        let info;
        try {
          info = await deps.networks.find(spec);
        } catch (err) {
          deps.log.warn("could not read a task's network", { task: taskId, error: errorText(err) });
          continue;
        }
        // No network yet (the task has not started since): its upstreams open when it does.
        if (!info) continue;
        for (const u of spec.upstreams) wants.push({ gateway: info.gateway, subnet: info.subnet, ...u, taskId, version: spec.version });
      }
      await deps.traffic.setUpstreams(wants);
      await deps.dns?.refresh();
      await deps.networks.sweep(new Set(tasks.map((t) => deps.networks.nameOf(t.spec))));
    },
  };
}
