// The agent's request poll: about every second while a follow is open here (so new follows and execs
// arrive sooner than the next heartbeat, and follows whose viewer went away are stopped promptly even when
// their task prints nothing), and once at start (to take up the follows an earlier run left open).
// Otherwise the heartbeat alone hands requests over: at most one heartbeat interval after they are made.
import type { RequestPollResponse } from "../../api/agent-requests";
import { ControlPlaneError, type ControlPlaneClient } from "../client";
import { errorText, type Logger } from "../log";

export interface RequestPoll {
  /** Polls now and keeps polling while `keepGoing()` holds. */
  kick(): void;
  stop(): void;
}

export function createRequestPoll(deps: {
  client: ControlPlaneClient;
  credential(): string;
  onReply(reply: RequestPollResponse, askedAt: number): void;
  keepGoing(): boolean;
  log: Logger;
  intervalMs?: number;
}): RequestPoll {
  const intervalMs = deps.intervalMs ?? 1_000;
  let running = false;
  let stopped = false;
  let unsupported = false;
  let wake: (() => void) | null = null;

  async function loop(): Promise<void> {
    running = true;
    try {
      do {
        const askedAt = Date.now();
        try {
          deps.onReply(await deps.client.pollRequests(deps.credential()), askedAt);
        } catch (err) {
          // A control plane from before follows: it hands none over either, so nothing is missed.
          if (err instanceof ControlPlaneError && err.status === 404) {
            unsupported = true;
            deps.log.debug("the control plane takes no request polls (an older version)", { error: errorText(err) });
            return;
          }
          // Unreachable or refused: the heartbeat loop says so, and enrolls again when it must.
          deps.log.debug("request poll failed", { error: errorText(err) });
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, intervalMs);
          function done() {
            clearTimeout(timer);
            wake = null;
            resolve();
          }
          wake = done;
        });
      } while (!stopped && deps.keepGoing());
    } finally {
      running = false;
    }
  }

  return {
    kick() {
      if (running || stopped || unsupported) return;
      void loop();
    },
    stop() {
      stopped = true;
      wake?.();
    },
  };
}
