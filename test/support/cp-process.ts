// A control-plane process for multi-instance tests: serves one data directory, prints {url, adminToken}.
// An optional host binds it to that address (e.g. a veth end, for tests that reach it from a namespace).
import { startNodeServer } from "../../worker/node";
import { parseConfig } from "../../worker/config";
import { createJsonLogger } from "../../worker/log";

const [dataDir, heartbeatInterval = "1s", leaseTtl = "3s", host] = process.argv.slice(2);
if (!dataDir) throw new Error("usage: cp-process <data-dir> [heartbeat-interval] [lease-ttl] [host]");
const server = await startNodeServer({
  dataDir,
  port: 0,
  ...(host ? { host } : {}),
  config: parseConfig({ heartbeatInterval, leaseTtl, sweepInterval: "500ms" }),
  log: createJsonLogger({ minLevel: "info" }),
});
console.log(JSON.stringify({ url: server.url, adminToken: server.adminToken }));
process.on("SIGTERM", () => void server.close().then(() => process.exit(0)));
