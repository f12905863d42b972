// The node's DNS for its job networks: one server (dns/) listening on the gateway of each network whose
// tasks have upstreams, its view kept to the upstreams and the endpoint sets the proxy serves
// (proxy/traffic.ts), so `<service>.<namespace>.leasehold` names what LEASEHOLD_UPSTREAM_<NAME>_ADDR does.
//
// Invariants: a gateway is served while its network has upstreams and closed when they go; a gateway that
// cannot be bound is said once per reason, its tasks run on (they resolve through the engine's default),
// and it is tried again at the next refresh; refreshes run one at a time, in order.
import type { DnsServer } from "../dns";
import { errorText, type Logger } from "../log";
import type { Traffic } from "../proxy/traffic";

export interface NodeDns {
  /** Brings the listeners and the view in step with the traffic's upstreams and the service sets held. */
  refresh(): Promise<void>;
  /** Whether DNS is served on this gateway now: a container told to ask it gets answers. */
  serving(gateway: string): boolean;
  /** Stops serving everywhere; refreshes after this do nothing. */
  close(): Promise<void>;
}

export function createNodeDns(deps: { server: DnsServer; traffic: Pick<Traffic, "upstreamsByGateway" | "catalog">; log: Logger; port?: number }): NodeDns {
  const port = deps.port ?? 53;
  const listening = new Set<string>();
  /** Why a gateway could not be bound, said once per reason. */
  const failing = new Map<string, string>();
  let closed = false;
  let chain: Promise<void> = Promise.resolve();

  async function refreshOnce(): Promise<void> {
    const upstreams = closed ? {} : deps.traffic.upstreamsByGateway();
    deps.server.setView({ upstreams, services: deps.traffic.catalog.snapshots() });
    for (const gateway of [...listening]) {
      if (Object.hasOwn(upstreams, gateway)) continue;
      listening.delete(gateway);
      await deps.server.close(gateway);
    }
    for (const gateway of Object.keys(upstreams)) {
      if (listening.has(gateway)) continue;
      try {
        await deps.server.listen(gateway, port);
        listening.add(gateway);
        if (failing.delete(gateway)) deps.log.info("dns: serving a job network's gateway now", { gateway });
      } catch (err) {
        const why = errorText(err);
        if (failing.get(gateway) !== why) {
          deps.log.warn("dns: cannot serve a job network's gateway; its tasks resolve through the engine's default (upstream names do not resolve), trying again", {
            gateway,
            port,
            error: why,
          });
        }
        failing.set(gateway, why);
      }
    }
    for (const gateway of [...failing.keys()]) if (!Object.hasOwn(upstreams, gateway)) failing.delete(gateway);
  }

  const refresh = (): Promise<void> => {
    const next = chain.then(refreshOnce).catch((err: unknown) => deps.log.warn("dns: could not refresh", { error: errorText(err) }));
    chain = next;
    return next;
  };

  return {
    refresh,
    serving: (gateway) => listening.has(gateway),
    async close() {
      closed = true;
      await refresh();
      await deps.server.close();
    },
  };
}
