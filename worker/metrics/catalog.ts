// Every counter and histogram the control plane keeps in process (on Workers: per isolate), with its help,
// labels and buckets, defined once for both registries (prom-client on Node, registry.ts on Workers).
//
// Invariant: every label takes values from a bounded set — route patterns, methods, status codes, results
// and reasons from fixed lists, store operations — never an id, a name or a raw path.
import type { Revocation } from "../../api/agent-protocol";
import { PLACEMENT_FAILURE_KINDS } from "../scheduler/reasons";

export interface CounterSpec {
  help: string;
  labels: readonly string[];
  /** For a counter with one label and a fixed set of values: each is shown at 0 before it is first counted. */
  initial?: readonly string[];
}

export interface HistogramSpec {
  help: string;
  labels: readonly string[];
  buckets: readonly number[];
}

/** Outcomes of an agent request handled past authentication. */
export const AGENT_RESULTS = ["ok", "unauthorized", "error"] as const;
export const EVALUATION_RESULTS = ["done", "deferred", "error"] as const;
const REVOCATION_REASONS = ["stale-epoch", "expired", "stopped", "not-found", "wrong-node", "bad-signature"] as const satisfies readonly Revocation["reason"][];

export const COUNTERS = {
  leasehold_http_requests_total: {
    help: 'HTTP requests answered, by route pattern (route="unmatched" for a path no route serves), method and status.',
    labels: ["route", "method", "status"],
  },
  leasehold_heartbeats_total: {
    help: "Agent heartbeats past authentication, by result (unauthorized: the node's credential was replaced or revoked).",
    labels: ["result"],
    initial: AGENT_RESULTS,
  },
  leasehold_claims_total: {
    help: "Agent claims past authentication, by result (unauthorized: the node's credential was replaced or revoked).",
    labels: ["result"],
    initial: AGENT_RESULTS,
  },
  leasehold_lease_grants_total: { help: "Leases granted: placed tasks a claim turned into leases.", labels: [] },
  leasehold_lease_renewals_total: { help: "Leases renewed by heartbeats.", labels: [] },
  leasehold_lease_revocations_total: {
    help: "Revocations in heartbeat replies, by reason; a revoked lease is named in every reply until its agent reports the task stopped.",
    labels: ["reason"],
    initial: REVOCATION_REASONS,
  },
  leasehold_evaluations_total: {
    help: "Evaluations run, by result (deferred: the plan kept losing races with other instances; its row stays due).",
    labels: ["result"],
    initial: EVALUATION_RESULTS,
  },
  leasehold_evaluation_retries_total: {
    help: "Evaluation attempts after the first (the store refused part of a plan, or a deployment changed while it was assessed).",
    labels: [],
  },
  leasehold_placement_failures_total: {
    help: "Slots an evaluation could not place, by the commonest obstacle across the fleet.",
    labels: ["reason"],
    initial: PLACEMENT_FAILURE_KINDS,
  },
  leasehold_store_errors_total: { help: "Store calls that failed (a constraint refusing a plan included), by operation.", labels: ["op"] },
} as const satisfies Record<string, CounterSpec>;

export const HISTOGRAMS = {
  leasehold_http_request_duration_seconds: {
    help: "Time from a request's arrival to its answer's headers (a long-polled claim waits up to its waitMs), by route pattern and method.",
    labels: ["route", "method"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  },
  leasehold_evaluation_duration_seconds: {
    help: "Time an evaluation took, its turn behind this instance's other evaluations and its retries included.",
    labels: [],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  },
  leasehold_store_duration_seconds: {
    help: "Time of each call to the store, by operation (execute: one statement; read, write: a batch in one transaction).",
    labels: ["op"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  },
} as const satisfies Record<string, HistogramSpec>;

export type CounterName = keyof typeof COUNTERS;
export type HistogramName = keyof typeof HISTOGRAMS;
type SpecOf<N extends CounterName | HistogramName> = N extends CounterName ? (typeof COUNTERS)[N] : N extends HistogramName ? (typeof HISTOGRAMS)[N] : never;
/** The labels a series of `N` is named by, every one of them. */
export type LabelsOf<N extends CounterName | HistogramName> = { readonly [K in SpecOf<N>["labels"][number]]: string };
