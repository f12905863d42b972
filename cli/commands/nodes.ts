// leasehold nodes: the fleet, with allocation against capacity and heartbeat age.
import type { Command } from "commander";
import { commandContext } from "../context";
import { formatAge, formatTable } from "../format";
import type { CliIo } from "../io";

export function registerNodes(program: Command, io: CliIo): void {
  program
    .command("nodes")
    .description("list the fleet's nodes")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const list = await ctx.client().listNodes();
      if (ctx.output === "json") return ctx.json(list);
      if (list.nodes.length === 0) return ctx.out("no nodes have enrolled yet");
      const now = Date.now();
      const rows = list.nodes.map((n) => {
        const a = n.allocated ?? { cpu: 0, memory: 0, tasks: 0 };
        return [
          n.name,
          n.region,
          n.state,
          `${a.cpu}/${n.capacity.cpu}`,
          `${a.memory}/${n.capacity.memory}`,
          String(a.tasks),
          n.lastHeartbeatAt === null ? "never" : `${formatAge(n.lastHeartbeatAt, now)} ago`,
        ];
      });
      ctx.out(formatTable(["NAME", "REGION", "STATE", "CPU (m)", "MEMORY (MiB)", "TASKS", "HEARTBEAT"], rows));
    });
}
