// What heartbeats and claims count, taken from their outcomes: the route passes the request's promise
// through, so the lease code itself holds no metrics but the one line counting grants.
import type { ClaimResponse } from "../../api/agent-protocol";
import { ProblemError } from "../errors";
import type { HeartbeatOutcome } from "../leases/heartbeat";
import type { Metrics } from "./metrics";

type AgentResult = "ok" | "unauthorized" | "error";

function failure(err: unknown): AgentResult {
  return err instanceof ProblemError && err.status === 401 ? "unauthorized" : "error";
}

export async function countedHeartbeat(metrics: Metrics, beat: Promise<HeartbeatOutcome>): Promise<HeartbeatOutcome> {
  let outcome: HeartbeatOutcome;
  try {
    outcome = await beat;
  } catch (err) {
    metrics.inc("leasehold_heartbeats_total", { result: failure(err) });
    throw err;
  }
  const { renewed, revoked } = outcome.response;
  metrics.inc("leasehold_heartbeats_total", { result: "ok" });
  if (renewed.length > 0) metrics.inc("leasehold_lease_renewals_total", {}, renewed.length);
  for (const r of revoked) metrics.inc("leasehold_lease_revocations_total", { reason: r.reason });
  return outcome;
}

export async function countedClaim(metrics: Metrics, claim: Promise<ClaimResponse>): Promise<ClaimResponse> {
  try {
    const reply = await claim;
    metrics.inc("leasehold_claims_total", { result: "ok" });
    return reply;
  } catch (err) {
    metrics.inc("leasehold_claims_total", { result: failure(err) });
    throw err;
  }
}
