// The names under .leasehold and what each one means; names are compared in lower case, a trailing dot
// tolerated.
export const ZONE = "leasehold";

export type ZoneName =
  | { kind: "apex" }
  | { kind: "namespace"; namespace: string }
  /** `<service>.<namespace>.leasehold` */
  | { kind: "service"; namespace: string; service: string }
  /** `_<service>._tcp.<namespace>.leasehold`, the RFC 2782 form of the same SRV set */
  | { kind: "service-srv"; namespace: string; service: string }
  /** `<task>.<service>.<namespace>.leasehold`, an SRV target */
  | { kind: "endpoint"; namespace: string; service: string; label: string }
  | { kind: "unknown" };

export function normaliseName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** The meaning of `name` in the zone, or null when it is outside .leasehold. */
export function parseZoneName(name: string): ZoneName | null {
  const labels = normaliseName(name).split(".");
  if (labels.pop() !== ZONE) return null;
  const [a, b, c] = labels;
  if (a === undefined) return { kind: "apex" };
  if (b === undefined) return { kind: "namespace", namespace: a };
  if (c === undefined) return { kind: "service", namespace: b, service: a };
  if (labels.length !== 3) return { kind: "unknown" };
  if (b === "_tcp") return a.startsWith("_") && a.length > 1 ? { kind: "service-srv", namespace: c, service: a.slice(1) } : { kind: "unknown" };
  return { kind: "endpoint", namespace: c, service: b, label: a };
}

export function endpointName(label: string, service: string, namespace: string): string {
  return `${label}.${service}.${namespace}.${ZONE}`;
}
