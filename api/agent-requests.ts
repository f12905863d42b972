// Log follows and one-shot execs through NAT: what an operator asks for, what the agent is handed (in
// heartbeat replies and its request poll), and what it sends back. The control plane never dials an agent.
import { z } from "zod";

export const logStreamSchema = z.enum(["stdout", "stderr"]);
export type LogStream = z.infer<typeof logStreamSchema>;

/** Most lines a tail (or the start of a follow) reads from before now. */
export const MAX_TAIL_LINES = 10_000;
/** Lines a tail or follow starts with when neither tail nor since is given. */
export const DEFAULT_TAIL_LINES = 100;
/** Most text in one chunk a follow's agent sends (UTF-8 bytes, all entries together). */
export const MAX_CHUNK_BYTES = 64 * 1024;
/** Most of each of stdout and stderr an exec keeps (its end, where a failing command says why). */
export const MAX_EXEC_OUTPUT_BYTES = 256 * 1024;
export const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
export const MAX_EXEC_TIMEOUT_MS = 10 * 60_000;

/** Which lines of a task's log to read: a tail, or where a follow starts before it goes on with new ones. */
export const logSelectionSchema = z.object({
  tail: z.number().describe("At most this many lines written before now"),
  sinceMs: z.number().optional().describe("Only lines written within this many ms before now (the agent's clock)"),
  timestamps: z.boolean().optional().describe("Prefix each line with the engine's RFC 3339 timestamp (nanoseconds)"),
  stream: logStreamSchema.optional().describe("Only this stream; absent: stdout and stderr interleaved as written"),
});
export type LogSelection = z.infer<typeof logSelectionSchema>;

export const followOrderSchema = logSelectionSchema
  .extend({
    id: z.string(),
    taskId: z.string(),
    nextSeq: z.number().describe("The sequence number of the next chunk the control plane takes for this follow"),
  })
  .describe("A log follow: stream the task's new lines as chunks until the follow is closed or lapses");
export type FollowOrder = z.infer<typeof followOrderSchema>;

export const execOrderSchema = z
  .object({ id: z.string(), taskId: z.string(), command: z.array(z.string()), timeoutMs: z.number() })
  .describe("A one-shot command to run in the task's container (no TTY, no stdin), killed at timeoutMs");
export type ExecOrder = z.infer<typeof execOrderSchema>;

/** POST /v1/agent/requests: the agent's poll while a follow is active (and once when it starts). */
export const requestPollResponseSchema = z.object({
  follows: z.array(followOrderSchema).describe("Every follow of this node that is open now: stop any other, start any not running"),
  execs: z.array(execOrderSchema).describe("Execs handed to this node by this poll"),
});
export type RequestPollResponse = z.infer<typeof requestPollResponseSchema>;

const outputEntrySchema = z.strictObject({
  stream: logStreamSchema,
  text: z.string().min(1).describe("One or more complete lines, each ending in a newline"),
});

const byteLength = (s: string) => new TextEncoder().encode(s).length;

/** POST /v1/agent/follows/{id}/chunks: the next lines of a follow, in order. */
export const followChunkSchema = z
  .strictObject({
    seq: z.int().min(0).describe("The follow's nextSeq: a chunk at any other sequence number is refused (409)"),
    output: z.array(outputEntrySchema).max(1_000).default([]),
    status: z.string().min(1).max(512).optional().describe('A note for the viewer: "task stopped", "container restarted", …'),
    ended: z.boolean().default(false).describe("The agent stops following (the task stopped): the follow takes no more chunks"),
  })
  .refine((c) => c.output.reduce((n, e) => n + byteLength(e.text), 0) <= MAX_CHUNK_BYTES, { message: `output holds at most ${MAX_CHUNK_BYTES} bytes`, path: ["output"] });
export type FollowChunk = z.input<typeof followChunkSchema>;

/** POST /v1/agent/execs/{id}/result. */
export const execResultSchema = z.strictObject({
  exitCode: z.int().nullable().describe("null: the command did not exit by itself (timed out) or never ran"),
  stdout: z.string().max(MAX_EXEC_OUTPUT_BYTES),
  stderr: z.string().max(MAX_EXEC_OUTPUT_BYTES),
  truncated: z.boolean().default(false).describe("Output beyond the limit was dropped (its start)"),
  timedOut: z.boolean().default(false),
  error: z.string().max(1_024).optional().describe("Why the command could not be run at all"),
});
export type ExecResult = z.input<typeof execResultSchema>;

/**
 * One SSE message of GET /v1/namespaces/{ns}/jobs/{name}/logs/follow (its data, as JSON). A dashboard
 * builds on this shape: add fields, never change these.
 */
export const followMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("output"), taskId: z.string(), nodeId: z.string(), stream: logStreamSchema, text: z.string().describe("One or more complete lines") }),
  z.object({ type: z.literal("status"), taskId: z.string(), nodeId: z.string(), message: z.string() }),
]);
export type FollowMessage = z.infer<typeof followMessageSchema>;

export const execRequestSchema = z.strictObject({
  taskId: z.string().min(1).max(128).optional().describe("The task (an id or its prefix); needed when the job runs more than one"),
  command: z
    .array(z.string().max(16_384))
    .min(1)
    .max(256)
    .refine((argv) => argv[0] !== "", "the command's first word is empty")
    .refine((argv) => argv.reduce((n, a) => n + a.length, 0) <= 65_536, "the command is longer than 64 KiB"),
  timeoutMs: z.int().min(1_000).max(MAX_EXEC_TIMEOUT_MS).default(DEFAULT_EXEC_TIMEOUT_MS).describe("Killed after this long"),
});
export type ExecRequest = z.input<typeof execRequestSchema>;

export const execStatusSchema = z.enum(["pending", "sent", "done", "failed"]);

export const execViewSchema = z.object({
  id: z.string(),
  taskId: z.string(),
  nodeId: z.string(),
  status: execStatusSchema.describe("pending: waiting for the agent to pick it up; sent: running; done: it ran (see exitCode); failed: it could not run, or no answer came"),
  exitCode: z.number().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  truncated: z.boolean(),
  timedOut: z.boolean(),
  error: z.string().nullable().describe("Why it failed"),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type ExecView = z.infer<typeof execViewSchema>;
