// One query in, its reply out: names under .leasehold answered from the view, others forwarded to the
// host's resolver, SERVFAIL when that one does not answer. Names never reach the log above debug.
import type { Logger } from "../log";
import { answerInZone } from "./answer";
import { exchangeTcp, exchangeUdp } from "./forwarder";
import type { Nameserver } from "./forwarder";
import { decodeQuery, encodeWithin, queryProblem, reply, TCP_MAX, udpLimit } from "./message";
import { parseZoneName } from "./names";
import type { ServedNames } from "./view";

export type Transport = "udp" | "tcp";

/** The reply to the message `bytes` that reached the listener on `at`, or null to send none. */
export type Responder = (bytes: Buffer, at: string, transport: Transport) => Promise<Buffer | null>;

export type ResponderDeps = {
  served: () => ServedNames;
  /** Where names outside the zone go; null when there is nowhere. */
  nameserver: () => Promise<Nameserver | null>;
  forwardTimeoutMs: number;
  /** Forwards in flight beyond this are answered SERVFAIL at once, so a flood cannot hold every socket. */
  maxForwards: number;
  log: Logger;
};

export function createResponder(deps: ResponderDeps): Responder {
  let forwarding = 0;

  async function forward(bytes: Buffer, transport: Transport): Promise<Buffer | null> {
    if (forwarding >= deps.maxForwards) return null;
    forwarding++;
    try {
      const server = await deps.nameserver();
      if (server === null) return null;
      const exchange = transport === "udp" ? exchangeUdp : exchangeTcp;
      return await exchange(server, bytes, deps.forwardTimeoutMs);
    } finally {
      forwarding--;
    }
  }

  return async function respond(bytes, at, transport) {
    const query = decodeQuery(bytes);
    if (query === null) {
      deps.log.debug("dns: dropped a message that is not a query", { bytes: bytes.length, transport });
      return null;
    }
    const limit = transport === "udp" ? udpLimit(query) : TCP_MAX;
    const problem = queryProblem(query);
    const question = query.questions?.[0];
    if (problem !== null || question === undefined) return encodeWithin(reply(query, { rcode: problem ?? "FORMERR" }), limit);

    if (parseZoneName(question.name) !== null) {
      const local = answerInZone(question, at, deps.served());
      deps.log.debug("dns: answered", { name: question.name, type: question.type, rcode: local.rcode, at });
      return encodeWithin(reply(query, { ...local, authoritative: true }), limit);
    }
    const forwarded = await forward(bytes, transport);
    if (forwarded !== null) return forwarded;
    deps.log.debug("dns: the forwarder gave no answer", { name: question.name, type: question.type });
    return encodeWithin(reply(query, { rcode: "SERVFAIL" }), limit);
  };
}
