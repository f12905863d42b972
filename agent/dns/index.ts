// The agent's DNS for its containers: service names under .leasehold, everything else forwarded.
export { createDnsServer } from "./server";
export type { DnsServer, DnsServerOptions } from "./server";
export type { DnsCaller, DnsUpstream, DnsView } from "./view";
export type { Nameserver } from "./forwarder";
export { TTL } from "./answer";
