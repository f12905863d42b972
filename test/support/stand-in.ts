// A stand-in control plane for agent tests: an HTTP server on loopback whose routes the test writes, with
// the request body parsed and a JSON reply helper. Closed by the test's cleanup.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** `body`: the parsed JSON body, undefined when there was none. `reply` answers once; later calls do nothing. */
export type StandInHandler = (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown> | undefined, reply: (status: number, value: unknown) => void) => void;

/** Listens on an ephemeral loopback port; returns its URL. `cleanup` gets the step that closes it. */
export async function startStandIn(cleanup: (() => void | Promise<void>)[], handle: StandInHandler): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
      const reply = (status: number, value: unknown) => {
        if (res.writableEnded) return;
        res.writeHead(status, { "content-type": status < 300 ? "application/json" : "application/problem+json" });
        res.end(JSON.stringify(value));
      };
      handle(req, res, body, reply);
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  cleanup.push(
    () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
