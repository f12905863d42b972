export { loadOrCreateMeshIdentity, type MeshIdentity } from "./identity";
export { listenMesh, type MeshAuthorizer, type MeshCredentials, type MeshServer } from "./server";
export { dialMesh, type MeshTarget } from "./dial";
