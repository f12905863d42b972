// Child process for the real-container scenario: one real agent (Docker) enrolled with a join token, printing one JSON ready line.
// Usage: node --import tsx bench/real-agent.ts '{"server":…,"joinToken":…,"name":…,"dataDir":…}'
import { runAgent } from "../agent/run";

export interface RealAgentOptions {
  server: string;
  joinToken: string;
  name: string;
  dataDir: string;
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? "{}") as RealAgentOptions;
  const agent = await runAgent({
    server: opts.server,
    joinToken: opts.joinToken,
    name: opts.name,
    region: "global",
    labels: {},
    dataDir: opts.dataDir,
    // Agent logs are for diagnosis only; the parent keeps the tail of stderr.
    log: (message, fields) => process.stderr.write(JSON.stringify({ message, ...fields }) + "\n"),
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 10_000).unref();
    void agent.stop().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdout.write(JSON.stringify({ nodeId: agent.nodeId, pid: process.pid }) + "\n");
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
