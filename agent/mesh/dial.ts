// Opening another node's endpoint through its mesh port: mutual TLS with this node's certificate, the far
// end's certificate checked to name the node the endpoint is on, then the one-line ask (wire.ts). Resolves
// with the socket once the far end answered "ok"; what the caller writes from then on reaches the endpoint.
import { connect, createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import { nodeIdOfAltName } from "../../api/mesh";
import type { MeshCredentials } from "./server";
import { readLine } from "./wire";

export interface MeshTarget {
  nodeId: string;
  address: string;
  meshPort: number;
  /** The endpoint's host port on its node. */
  port: number;
}

/**
 * The TLS context of the credentials held: building one parses the key and certificates, which cost more
 * than the handshake itself, so it is built once per certificate (a renewal makes the next one).
 */
let context: { certificate: string; context: SecureContext } | undefined;
function contextOf(credentials: MeshCredentials): SecureContext {
  if (context?.certificate !== credentials.certificate) {
    context = { certificate: credentials.certificate, context: createSecureContext({ key: credentials.keyPem, cert: credentials.certificate, ca: [credentials.ca], minVersion: "TLSv1.3" }) };
  }
  return context.context;
}

export function dialMesh(target: MeshTarget, service: string, credentials: MeshCredentials, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: target.address,
      port: target.meshPort,
      secureContext: contextOf(credentials),
      minVersion: "TLSv1.3",
      // A caller that has sent all it will (a half-close) still gets the answer: the far end keeps writing.
      ...({ allowHalfOpen: true } as object),
      // The node is who the certificate names, not a host name: the endpoint's node must be the one answering.
      checkServerIdentity: (_host, cert) => {
        const node = nodeIdOfAltName(cert.subjectaltname);
        return node === target.nodeId ? undefined : new Error(`the mesh port at ${target.address}:${target.meshPort} is node ${node ?? "(none)"}'s, not ${target.nodeId}'s`);
      },
    });
    // The ask and its answer are one small write each: Nagle's wait on them cost 40 ms a connection.
    socket.setNoDelay(true);
    const timer = setTimeout(() => fail(new Error(`no mesh answer within ${timeoutMs} ms`)), timeoutMs);
    function fail(error: Error) {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    }
    socket.once("error", fail);
    socket.once("secureConnect", () => {
      socket.write(`${JSON.stringify({ service, port: target.port })}\n`);
      readLine(socket, timeoutMs).then(
        (line) => {
          if (line !== "ok") return fail(new Error(line.startsWith("refused") ? `mesh ${line}` : "the mesh port answered something else"));
          clearTimeout(timer);
          socket.off("error", fail);
          socket.resume();
          resolve(socket);
        },
        (error: Error) => fail(error),
      );
    });
  });
}
