// Answers for names under .leasehold from the compiled view, for one listening address. Pure: no I/O.
//
// A name exists only as the view makes it (see view.ts); a known name asked for a type it lacks gets an
// empty NOERROR answer (so an AAAA lookup beside an A lookup does not fail the name), an unknown one
// NXDOMAIN. Negative answers carry the zone's SOA, whose minimum keeps them cached no longer than a
// positive answer.
import type { Answer, Question, SoaAnswer } from "dns-packet";
import { endpointName, parseZoneName, ZONE } from "./names";
import type { ZoneName } from "./names";
import type { ServedNames, ServedService } from "./view";
import { serviceKey } from "../../api/services";

/** Seconds a resolver may keep an answer: endpoints come and go with health. */
export const TTL = 5;

export type LocalAnswer = {
  rcode: "NOERROR" | "NXDOMAIN" | "REFUSED";
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
};

export function answerInZone(question: Question, at: string, served: ServedNames): LocalAnswer {
  const zoneName = parseZoneName(question.name);
  if (zoneName === null) throw new Error("answerInZone: the name is outside the zone");
  const klass = question.class ?? "IN";
  if (klass !== "IN" && klass !== "ANY") return { rcode: "REFUSED", answers: [], authorities: [], additionals: [] };
  const services = served.get(at) ?? new Map<string, ServedService>();
  const found = lookup(zoneName, services);
  if (found === null) return negative("NXDOMAIN");
  // dns-packet's type list lacks ANY, which a query may still carry.
  const type: string = question.type;
  const wants = (t: string) => type === t || type === "ANY";
  const name = question.name.replace(/\.$/, "");
  const answers: Answer[] = [];
  const additionals: Answer[] = [];
  switch (found.kind) {
    case "apex":
      if (wants("SOA")) answers.push(soa());
      break;
    case "namespace":
      break;
    case "service":
    case "service-srv": {
      if (found.kind === "service" && wants("A")) answers.push({ type: "A", name, ttl: TTL, data: at });
      if (wants("SRV")) {
        for (const endpoint of found.service.endpoints) {
          const target = endpointName(endpoint.label, found.service.service, found.service.namespace);
          answers.push({ type: "SRV", name, ttl: TTL, data: { priority: endpoint.priority, weight: 1, port: endpoint.port, target } });
          additionals.push({ type: "A", name: target, ttl: TTL, data: endpoint.address });
        }
      }
      break;
    }
    case "endpoint":
      if (wants("A")) answers.push({ type: "A", name, ttl: TTL, data: found.address });
      break;
  }
  if (answers.length === 0) return negative("NOERROR");
  return { rcode: "NOERROR", answers, authorities: [], additionals };
}

type Found =
  | { kind: "apex" | "namespace" }
  | { kind: "service" | "service-srv"; service: ServedService }
  | { kind: "endpoint"; address: string };

/** What a zone name refers to at this address, or null when nothing by that name is served here. */
function lookup(name: ZoneName, services: ReadonlyMap<string, ServedService>): Found | null {
  switch (name.kind) {
    case "apex":
      return { kind: "apex" };
    case "namespace":
      return [...services.values()].some((s) => s.namespace === name.namespace) ? { kind: "namespace" } : null;
    case "service":
    case "service-srv": {
      const service = services.get(serviceKey(name.namespace, name.service));
      return service ? { kind: name.kind, service } : null;
    }
    case "endpoint": {
      const endpoint = services.get(serviceKey(name.namespace, name.service))?.endpoints.find((e) => e.label === name.label);
      return endpoint ? { kind: "endpoint", address: endpoint.address } : null;
    }
    case "unknown":
      return null;
  }
}

function negative(rcode: "NOERROR" | "NXDOMAIN"): LocalAnswer {
  return { rcode, answers: [], authorities: [soa()], additionals: [] };
}

function soa(): SoaAnswer {
  return {
    type: "SOA",
    name: ZONE,
    ttl: TTL,
    data: { mname: `ns.${ZONE}`, rname: `hostmaster.${ZONE}`, serial: 1, refresh: 60, retry: 60, expire: 60, minimum: TTL },
  };
}
