// The agent's DNS for its containers: one listener per job network gateway, answering
// `<service>.<namespace>.leasehold` from the view the agent sets and forwarding every other name to the
// host's resolver.
//
// Invariants: queries for .leasehold are never forwarded; a malformed message is dropped and the next one
// answered; a name served at one address is unknown at another unless that network declared it too.
import type { Logger } from "../log";
import { silentLogger } from "../log";
import { readNameserver, RESOLV_CONF } from "./forwarder";
import type { Nameserver } from "./forwarder";
import { openListener } from "./listener";
import type { Listener } from "./listener";
import { createResponder } from "./respond";
import { compileView, emptyView } from "./view";
import type { DnsCaller, DnsView, ServedNames } from "./view";

export type DnsServerOptions = {
  /** This node, for choosing which of an endpoint's addresses its callers dial. */
  node: DnsCaller;
  /** Where names outside .leasehold go. Default: the first nameserver in resolv.conf, read per query. */
  forwarder?: Nameserver;
  /** The resolv.conf read when no forwarder is given. */
  resolvConf?: string;
  /** How long the forwarder has to answer before the asker gets SERVFAIL. Default 2 s. */
  forwardTimeoutMs?: number;
  /** Default 256. */
  maxForwards?: number;
  view?: DnsView;
  log?: Logger;
};

export type DnsServer = {
  /** Serves DNS on `address` over UDP and TCP, on `port` (default 53; 0 lets the system pick one). */
  listen(address: string, port?: number): Promise<{ address: string; port: number }>;
  /** Stops serving on `address`, or on every address. Closing an address not served is a no-op. */
  close(address?: string): Promise<void>;
  /** Replaces what is served; answers after this returns come from `view`. */
  setView(view: DnsView): void;
};

export function createDnsServer(opts: DnsServerOptions): DnsServer {
  const forwardTimeoutMs = opts.forwardTimeoutMs ?? 2_000;
  const maxForwards = opts.maxForwards ?? 256;
  if (!(forwardTimeoutMs > 0)) throw new Error(`createDnsServer: forwardTimeoutMs must be positive, not ${forwardTimeoutMs}`);
  if (!(maxForwards >= 0)) throw new Error(`createDnsServer: maxForwards must be at least 0, not ${maxForwards}`);
  if (opts.forwarder && !(opts.forwarder.port > 0 && opts.forwarder.port < 65_536)) {
    throw new Error(`createDnsServer: forwarder port ${opts.forwarder.port} is not a port`);
  }
  const log = opts.log ?? silentLogger;
  const forwarder = opts.forwarder;
  const resolvConf = opts.resolvConf ?? RESOLV_CONF;
  let served: ServedNames = compileView(opts.view ?? emptyView, opts.node);
  const listeners = new Map<string, Listener>();
  const opening = new Set<string>();

  const respond = createResponder({
    served: () => served,
    nameserver: forwarder ? () => Promise.resolve(forwarder) : () => readNameserver(resolvConf),
    forwardTimeoutMs,
    maxForwards,
    log,
  });

  return {
    async listen(address, port = 53) {
      if (listeners.has(address) || opening.has(address)) throw new Error(`DNS is already served on ${address}`);
      opening.add(address);
      let listener: Listener;
      try {
        listener = await openListener(address, port, respond, log);
      } finally {
        opening.delete(address);
      }
      listeners.set(address, listener);
      log.info("dns: serving", { address, port: listener.port });
      return { address, port: listener.port };
    },
    async close(address) {
      const closing = address === undefined ? [...listeners.values()] : [listeners.get(address)].filter((l) => l !== undefined);
      for (const listener of closing) listeners.delete(listener.address);
      await Promise.all(closing.map((listener) => listener.close()));
    },
    setView(view) {
      served = compileView(view, opts.node);
    },
  };
}
