// leasehold audit: who changed what, newest first, from GET /v1/audit, following its pages up to --limit.
// Without -n it reads the whole fleet's trail (a fleet admin's token); with -n, that namespace's.
import { Option, type Command } from "commander";
import { AUDIT_LIMIT_DEFAULT, AUDIT_LIMIT_MAX, type AuditEntry, type AuditPage } from "../../api/audit";
import type { AuditQuery } from "../client";
import { commandContext } from "../context";
import { dash, formatTable, formatUtc, oneLine } from "../format";
import type { CliIo } from "../io";
import { intOption } from "../options";

interface AuditOptions {
  since?: string;
  until?: string;
  actor?: string;
  action?: string;
  limit: number;
  json?: boolean;
}

const DETAIL_WIDTH = 60;

/** The detail as `key=value` pairs on one line, clipped: the table is for scanning; --json has it whole. */
export function shortDetail(detail: unknown): string {
  if (detail === null || detail === undefined) return "";
  const text =
    typeof detail === "object" && !Array.isArray(detail)
      ? Object.entries(detail)
          .filter(([, v]) => v !== null && v !== undefined)
          .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
          .join(" ")
      : JSON.stringify(detail);
  const line = oneLine(text);
  return line.length > DETAIL_WIDTH ? line.slice(0, DETAIL_WIDTH - 1) + "…" : line;
}

export function registerAudit(program: Command, io: CliIo): void {
  program
    .command("audit")
    .description("list the audit trail, newest first: every operator write, who made it and when (admins)")
    .option("--since <time>", "entries at or after this: an RFC 3339 time, or a duration ago (30m, 24h)")
    .option("--until <time>", "entries before this: an RFC 3339 time, or a duration ago")
    .option("--actor <subject>", "entries by this actor (a token subject, or node:NAME)")
    .option("--action <action>", 'entries of this action (job.apply), or under a prefix ending in "." (secret.)')
    .addOption(new Option("--limit <n>", "at most this many entries").argParser(intOption(1, 1_000_000)).default(AUDIT_LIMIT_DEFAULT))
    .option("--json", "print the entries as JSON (as -o json), with the cursor to read on from")
    .addHelpText("after", "\n-n NAMESPACE reads that namespace's entries only; without it, the whole fleet's (a fleet admin's token).\n")
    .action(async (opts: AuditOptions, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const client = ctx.client();
      const filters: AuditQuery = { actor: opts.actor, action: opts.action, since: opts.since, until: opts.until, ...(ctx.namespaceGiven ? { namespace: ctx.namespace } : {}) };
      const entries: AuditEntry[] = [];
      let page: AuditPage = await client.audit({ ...filters, limit: Math.min(opts.limit, AUDIT_LIMIT_MAX) });
      // A duration such as 1h is resolved by the control plane on each request; later pages ask for the
      // bounds the first one used, so the window does not slide while they are read.
      const window = { since: page.since === null ? undefined : new Date(page.since).toISOString(), until: page.until === null ? undefined : new Date(page.until).toISOString() };
      for (;;) {
        entries.push(...page.entries);
        if (page.next === null || entries.length >= opts.limit) break;
        page = await client.audit({ ...filters, ...window, limit: Math.min(opts.limit - entries.length, AUDIT_LIMIT_MAX), cursor: page.next });
      }
      if (opts.json || ctx.output === "json") return ctx.json({ entries, next: page.next });
      if (entries.length === 0) return ctx.out("no audit entries match");
      const rows = entries.map((e) => [formatUtc(e.at), e.actor, e.action, dash(e.namespace), dash(e.target), shortDetail(e.detail)]);
      ctx.out(formatTable(["TIME", "ACTOR", "ACTION", "NAMESPACE", "TARGET", "DETAIL"], rows));
      if (page.next !== null) ctx.note(`the newest ${entries.length} shown; more match (a larger --limit shows them)`);
    });
}
