// Where other hosts reach this one, as sent at enrollment: the addresses the operator gave (--advertise),
// or else this host's first non-internal IPv4 address, as a region address. Interfaces of container
// engines and virtual bridges are passed over: no other host reaches this one there.
import { networkInterfaces } from "node:os";
import type { AdvertisedAddress } from "../api/services";

/** Interface names that are this host's own plumbing (Docker, veth pairs, bridges, overlay and VM networks). */
const PLUMBING = /^(docker|veth|br-|virbr|cni|flannel|cali|vxlan|weave|lxc|lxd|podman|kube)/;

export function detectAdvertise(interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces()): AdvertisedAddress[] {
  for (const [name, addresses] of Object.entries(interfaces)) {
    if (PLUMBING.test(name)) continue;
    for (const a of addresses ?? []) {
      if (a.family !== "IPv4" || a.internal || a.address.startsWith("169.254.")) continue;
      return [{ address: a.address, scope: "region" }];
    }
  }
  return [];
}
