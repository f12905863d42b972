// The supervisor's networking, composed: each task's job network (job-networks.ts) and the upstreams served
// on its gateway (proxy/traffic.ts). A task's network is made and its upstreams opened before its container
// is made, so the container's env names addresses that answer from its first moment.
import { errorText, type Logger } from "../log";
import type { Traffic, UpstreamWant } from "../proxy/traffic";
import type { TaskNetworking } from "../supervisor";
import { networkAliases, type JobNetworks } from "./job-networks";

export function createTaskNetworking(deps: { networks: JobNetworks; traffic: Traffic; log: Logger }): TaskNetworking {
  return {
    async prepare({ taskId, spec }) {
      const info = await deps.networks.ensure(spec);
      const env = spec.upstreams?.length ? await deps.traffic.openUpstreams(taskId, spec.version, { gateway: info.gateway, subnet: info.subnet }, spec.upstreams) : {};
      return { network: { name: info.name, aliases: networkAliases(spec) }, env };
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
      await deps.networks.sweep(new Set(tasks.map((t) => deps.networks.nameOf(t.spec))));
    },
  };
}
