// A mesh certificate asked for through the heartbeat: issued for the key the node presents (its credential
// vouches for it, as it does for its leases), and the node's mesh port recorded if it moved (an agent
// restarted on another port). The write is conditional, so a heartbeat that changes nothing writes nothing.
import type { MeshCertificate, MeshRequest } from "../../api/mesh";
import type { ResolvedDeps } from "../context";
import { issueNodeCertificate } from "./certificates";

export async function renewMesh(deps: ResolvedDeps, nodeId: string, request: MeshRequest): Promise<MeshCertificate> {
  await deps.store.client.execute({ sql: "UPDATE nodes SET mesh_port = ? WHERE id = ? AND mesh_port IS NOT ?", args: [request.port, nodeId, request.port] });
  return issueNodeCertificate(deps.keys, nodeId, request.key, deps.clock.now(), deps.config.meshCertTtl);
}
