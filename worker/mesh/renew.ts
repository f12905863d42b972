// What an agent says of itself through the heartbeat once it (re)starts: where it is reached (its advertised
// addresses, its mesh port), which may have moved since it enrolled, and the mesh certificate it asks for,
// issued for the key it presents (its credential vouches for it, as it does for its leases). The writes are
// conditional, so a heartbeat that changes nothing writes nothing.
import type { MeshCertificate, MeshRequest } from "../../api/mesh";
import type { AdvertisedAddress } from "../../api/services";
import type { ResolvedDeps } from "../context";
import { issueNodeCertificate } from "./certificates";

export async function renewMesh(deps: ResolvedDeps, nodeId: string, request: MeshRequest): Promise<MeshCertificate> {
  await deps.store.client.execute({ sql: "UPDATE nodes SET mesh_port = ? WHERE id = ? AND mesh_port IS NOT ?", args: [request.port, nodeId, request.port] });
  return issueNodeCertificate(deps.keys, nodeId, request.key, deps.clock.now(), deps.config.meshCertTtl);
}

export async function recordAdvertise(deps: ResolvedDeps, nodeId: string, advertise: AdvertisedAddress[]): Promise<void> {
  const addresses = JSON.stringify(advertise);
  await deps.store.client.execute({ sql: "UPDATE nodes SET addresses = ? WHERE id = ? AND addresses IS NOT ?", args: [addresses, nodeId, addresses] });
}
