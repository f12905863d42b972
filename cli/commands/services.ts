// leasehold services [NAME]: the catalog. Without a name, the namespace's services with their endpoint
// counts; with one, its endpoints (healthy ones, or all with --all), and with --watch, each change as it
// comes (a blocking query on the set's index).
import type { Command } from "commander";
import type { Endpoint, ServiceSnapshot } from "../../api/services";
import { commandContext, type CommandContext } from "../context";
import { formatTable } from "../format";
import type { CliIo } from "../io";

interface ServicesOptions {
  all?: boolean;
  watch?: boolean;
}

const address = (e: Endpoint) => e.addresses.map((a) => `${a.address}:${e.port}${a.scope === "public" ? " (public)" : ""}`).join(", ") || "(not reachable from other hosts)";

function showEndpoints(ctx: CommandContext, s: ServiceSnapshot): void {
  if (s.endpoints.length === 0) return ctx.out(`service ${s.name}: no ${ctx.output === "json" ? "" : "healthy "}endpoints`);
  const rows = s.endpoints.map((e) => [e.taskId.slice(0, 8), `${e.jobId}#${e.slot}`, `v${e.version}`, e.nodeName, e.region, address(e), e.healthy ? "healthy" : "unhealthy", e.tags.join(",")]);
  ctx.out(formatTable(["TASK", "SLOT", "VERSION", "NODE", "REGION", "ADDRESS", "HEALTH", "TAGS"], rows));
}

export function registerServices(program: Command, io: CliIo): void {
  program
    .command("services")
    .argument("[name]", "a service: show its endpoints")
    .description("list the namespace's services, or one service's endpoints")
    .option("--all", "with NAME: unhealthy endpoints too")
    .option("-w, --watch", "with NAME: print the endpoints again each time they change (Ctrl-C to stop)")
    .action(async (name: string | undefined, opts: ServicesOptions, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const client = ctx.client();
      if (name === undefined) {
        const list = await client.listServices(ctx.namespace);
        if (ctx.output === "json") return ctx.json(list);
        if (list.services.length === 0) return ctx.out(`no services in namespace ${ctx.namespace}`);
        return ctx.out(formatTable(["NAME", "HEALTHY", "ENDPOINTS", "TAGS", "JOBS"], list.services.map((s) => [s.name, String(s.healthy), String(s.endpoints), s.tags.join(","), s.jobs.join(",")])));
      }
      let s = await client.getService(ctx.namespace, name, { all: opts.all === true });
      if (ctx.output === "json" && !opts.watch) return ctx.json(s);
      for (;;) {
        if (ctx.output === "json") ctx.json(s);
        else showEndpoints(ctx, s);
        if (!opts.watch) return;
        s = await client.getService(ctx.namespace, name, { all: opts.all === true, index: s.index, wait: "5m" });
      }
    });
}
