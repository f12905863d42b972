// The audit trail as GET /v1/audit serves it: who changed what, newest first, a page at a time.
import { z } from "zod";
import { parseDuration } from "./duration";

export const AUDIT_LIMIT_DEFAULT = 100;
export const AUDIT_LIMIT_MAX = 1000;

/** An action filter: one action ("secret.put"), or one ending in "." for every action under it ("secret."). */
export const AUDIT_ACTION_PATTERN = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.?$/;

export const auditEntrySchema = z.object({
  id: z.number(),
  at: z.number().describe("When, in milliseconds since the epoch"),
  actor: z.string().describe("The token subject that made the change (node:NAME for an agent, bootstrap for the first token)"),
  action: z.string().describe("What was done, as noun.verb: job.apply, secret.put, token.issue, node.drain, …"),
  namespace: z.string().nullable().describe("null for fleet-wide actions (tokens, nodes)"),
  target: z.string().nullable().describe("What it was done to: a job id, secret name, token id, node id, …"),
  detail: z.unknown().describe("What the action recorded beyond its target, or null. Never a secret value"),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

export const auditPageSchema = z.object({
  entries: z.array(auditEntrySchema).describe("Newest first, by time and then by id"),
  next: z.string().nullable().describe("Pass back as ?cursor= with the same filters for the entries after these; null when there are none"),
  since: z.number().nullable().describe("The lower time bound as resolved (a duration counts back from the control plane's clock), inclusive"),
  until: z.number().nullable().describe("The upper time bound as resolved, exclusive"),
});
export type AuditPage = z.infer<typeof auditPageSchema>;

export const AUDIT_TIME_RULE = "must be an RFC 3339 time (2026-01-02T15:04:05Z) or a duration ago (30s, 5m, 1h)";

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * A time bound of an audit query in milliseconds: an RFC 3339 time, or a duration meaning that long before
 * `now`; null when the text is neither. Date.parse alone would roll 2026-02-30 over into March.
 */
export function parseAuditTime(text: string, now: number): number | null {
  const ago = parseDuration(text);
  if (ago !== null) return now - ago;
  const m = RFC3339.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) return null;
  const ms = Date.parse(text.toUpperCase().replace(" ", "T"));
  return Number.isNaN(ms) ? null : ms;
}
