// A control-plane process bound to a given address (e.g. a veth end), for tests that reach it from a network namespace.
import { startNodeServer } from "../../worker/node";
import { parseConfig } from "../../worker/config";

const [dataDir, host, heartbeatInterval = "1s", leaseTtl = "3s"] = process.argv.slice(2);
if (!dataDir || !host) throw new Error("usage: cp-process-host <data-dir> <host> [heartbeat-interval] [lease-ttl]");
const server = await startNodeServer({
  dataDir,
  host,
  port: 0,
  config: parseConfig({ heartbeatInterval, leaseTtl, sweepInterval: "500ms" }),
  log: (message, fields) => console.error(JSON.stringify({ message, ...fields })),
});
console.log(JSON.stringify({ url: server.url, adminToken: server.adminToken }));
process.on("SIGTERM", () => void server.close().then(() => process.exit(0)));
