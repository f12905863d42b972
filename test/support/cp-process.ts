// A control-plane process for multi-instance tests: serves one data directory, prints {url, adminToken}.
import { startNodeServer } from "../../worker/node";
import { parseConfig } from "../../worker/config";

const [dataDir, heartbeatInterval = "1s", leaseTtl = "3s"] = process.argv.slice(2);
if (!dataDir) throw new Error("usage: cp-process <data-dir> [heartbeat-interval] [lease-ttl]");
const server = await startNodeServer({
  dataDir,
  port: 0,
  config: parseConfig({ heartbeatInterval, leaseTtl, sweepInterval: "500ms" }),
  log: (message, fields) => console.error(JSON.stringify({ message, ...fields })),
});
console.log(JSON.stringify({ url: server.url, adminToken: server.adminToken }));
process.on("SIGTERM", () => void server.close().then(() => process.exit(0)));
