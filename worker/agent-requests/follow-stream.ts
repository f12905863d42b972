// A follow's stream handler: relays the chunks its agents store to its client, in order, and keeps the
// follows open while the client is connected. Nothing lives here that another instance needs: the follow
// rows and chunks are the state, so a client that reconnects to any instance starts a new follow.
//
// Invariants: chunks of a follow are sent in sequence order, each once (a chunk is deleted once sent); the
// follows' expiry is renewed every renewMs while the client is connected, and never after it went away;
// when the stream ends, its follows are closed, so agents stop at their next chunk or poll. An instance
// that dies without closing them leaves them to lapse at their expiry.
import type { FollowMessage, LogStream } from "../../api/agent-requests";
import { readBatch, writeBatch } from "../../db/batch";
import { chunksAfter, closeFollows, dropSentChunks, followStates, renewFollows } from "../../db/queries/agent-requests";
import type { ResolvedDeps } from "../context";
import type { TaskTarget } from "./targets";

export interface FollowTiming {
  /** How often the store is read for new chunks. */
  pollMs: number;
  /** How often the follows' expiry is pushed out. */
  renewMs: number;
  /** How far it is pushed out: how long follows outlive a handler that died. */
  ttlMs: number;
  /** The longest the stream stays silent: a comment line then keeps proxies from closing it. */
  keepaliveMs: number;
}

export const FOLLOW_TIMING: FollowTiming = { pollMs: 400, renewMs: 3_000, ttlMs: 10_000, keepaliveMs: 15_000 };

/** Chunks read per follow per poll: the rest come at the next, without waiting. */
const CHUNKS_PER_READ = 32;

/** Where the stream goes: an SSE response, as the route adapts it. */
export interface FollowSink {
  /** The client went away. */
  readonly closed: boolean;
  send(message: FollowMessage): Promise<void>;
  comment(text: string): Promise<void>;
  /** Waits `ms`, or less if the client goes away meanwhile. */
  pause(ms: number): Promise<void>;
}

export interface Follower extends TaskTarget {
  /** The follow's row id. */
  id: string;
}

/** A stored chunk's body, as the chunk route writes it. */
export interface ChunkBody {
  output: { stream: LogStream; text: string }[];
  status?: string;
}

interface Progress {
  follower: Follower;
  /** The last sequence number sent to the client, and the last whose chunks were deleted. */
  sent: number;
  dropped: number;
  /** The agent ended the follow, and every chunk it stored has been sent. */
  finished: boolean;
  connected: boolean | undefined;
}

export async function runFollowStream(deps: ResolvedDeps, sink: FollowSink, followers: Follower[], opts: { leaseTtlMs: number; timing?: FollowTiming }): Promise<void> {
  const timing = opts.timing ?? FOLLOW_TIMING;
  const ids = followers.map((f) => f.id);
  const progress = followers.map((follower): Progress => ({ follower, sent: -1, dropped: -1, finished: false, connected: undefined }));
  const out = new Relay(sink);
  let renewedAt = Date.now();
  let ending: string | null = null;
  try {
    for (const f of followers) await out.status(f, `waiting for the agent on ${f.nodeName} (it picks the follow up with its next heartbeat)`);
    while (!sink.closed && ending === null) {
      await sink.pause(timing.pollMs);
      if (sink.closed) break;
      if (Date.now() - out.wroteAt >= timing.keepaliveMs) await out.comment("keepalive");
      const reading = progress.filter((p) => !p.finished);
      if (reading.length === 0) continue;
      const now = deps.clock.now();
      const renew = Date.now() - renewedAt >= timing.renewMs;
      // Renewed before the state is read, in the same transaction: a follow read as lapsed did lapse.
      const writes = [...reading.filter((p) => p.sent > p.dropped).map((p) => dropSentChunks(p.follower.id, p.sent)), ...(renew ? [renewFollows(ids, now, now + timing.ttlMs)] : [])];
      const reads = [...reading.map((p) => chunksAfter(p.follower.id, p.sent, CHUNKS_PER_READ)), followStates(reading.map((p) => p.follower.id))];
      const results = writes.length > 0 ? (await writeBatch(deps.store.client, [...writes, ...reads])).slice(writes.length) : await readBatch(deps.store.client, reads);
      if (renew) renewedAt = Date.now();
      const states = new Map((results[reading.length]?.rows ?? []).map((r) => [String(r["id"]), r]));
      for (const [i, p] of reading.entries()) {
        p.dropped = Math.max(p.dropped, p.sent);
        const chunks = results[i]?.rows ?? [];
        await out.chunks(p, chunks);
        const row = states.get(p.follower.id);
        const state = row ? String(row["status"]) : "gone";
        if (state === "done") {
          // The agent's last chunk is in this read unless the read was full.
          p.finished = chunks.length < CHUNKS_PER_READ;
          continue;
        }
        if (!row || (state !== "pending" && state !== "sent") || Number(row["expires_at"]) < now) {
          ending = "the follow lapsed before this stream renewed it: reconnect to follow on";
          continue;
        }
        await out.contact(p, row["node_status"] === "ready" ? nullableNumber(row["last_heartbeat_at"]) : null, now, opts.leaseTtlMs);
      }
    }
    if (ending !== null) for (const f of followers) await out.status(f, ending);
  } catch (err) {
    deps.log("log follow stream failed", { error: err instanceof Error ? err.name : "error", reason: err instanceof Error ? err.message.slice(0, 200) : String(err) }, "warn");
    for (const f of followers) await out.status(f, "the control plane could not read the follow: reconnect to follow on").catch(() => undefined);
  } finally {
    // Whoever ended it (the client, or this handler), the agents stop now rather than at the expiry.
    await writeBatch(deps.store.client, closeFollows(ids, deps.clock.now())).catch((err: unknown) => {
      deps.log("could not close log follows; they lapse at their expiry", { error: err instanceof Error ? err.name : "error" }, "warn");
    });
  }
}

/** What the stream writes, and when it last wrote (the keepalive's clock). */
class Relay {
  wroteAt = Date.now();
  constructor(private readonly sink: FollowSink) {}

  async status(f: Follower, message: string): Promise<void> {
    this.wroteAt = Date.now();
    await this.sink.send({ type: "status", taskId: f.taskId, nodeId: f.nodeId, message });
  }

  async comment(text: string): Promise<void> {
    this.wroteAt = Date.now();
    await this.sink.comment(text);
  }

  /** A follow's new chunks, in order: each output entry as one message, then the chunk's status. */
  async chunks(p: Progress, rows: Record<string, unknown>[]): Promise<void> {
    for (const chunk of rows) {
      const seq = Number(chunk["seq"]);
      if (seq <= p.sent) continue;
      const body = JSON.parse(String(chunk["body"])) as ChunkBody;
      for (const entry of body.output) {
        this.wroteAt = Date.now();
        await this.sink.send({ type: "output", taskId: p.follower.taskId, nodeId: p.follower.nodeId, stream: entry.stream, text: entry.text });
      }
      if (body.status) await this.status(p.follower, body.status);
      p.sent = seq;
    }
  }

  /** Says when the follow's agent is out of contact (from the start, or once it drops), and when it is back. */
  async contact(p: Progress, lastHeartbeatAt: number | null, now: number, leaseTtlMs: number): Promise<void> {
    const connected = lastHeartbeatAt !== null && lastHeartbeatAt >= now - leaseTtlMs;
    const changed = p.connected === undefined ? !connected : connected !== p.connected;
    p.connected = connected;
    if (!changed) return;
    const heard = lastHeartbeatAt === null ? "no recent heartbeat" : `last heartbeat ${Math.round((now - lastHeartbeatAt) / 1000)}s ago`;
    await this.status(p.follower, connected ? "agent connected again" : `agent not connected (node ${p.follower.nodeName}: ${heard})`);
  }
}

function nullableNumber(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}
