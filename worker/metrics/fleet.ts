// The store-derived gauges: read from the store when scraped, so every instance (every isolate) answers
// the same, unlike the counters, which are each process's own.
import { readBatch } from "../../db/batch";
import { decodeFleetCounts, fleetCountStatements, type FleetCounts } from "../../db/queries/fleet-counts";
import type { Store } from "../../db/store";
import { writeFamily, type Sample } from "./text";

export async function readFleetCounts(store: Store, now: number): Promise<FleetCounts> {
  return decodeFleetCounts(await readBatch(store.client, fleetCountStatements(store.db, now)));
}

const byLabel = (counts: Record<string, number>): Sample[] => Object.entries(counts).map(([state, value]) => ({ suffix: "", labels: [["state", state]], value }));

export function fleetGaugesText(counts: FleetCounts): string {
  return (
    writeFamily("leasehold_nodes", "gauge", "Nodes by status, as stored (a node that stopped heartbeating stays ready until the sweep marks it down).", byLabel(counts.nodes)) +
    writeFamily("leasehold_tasks", "gauge", "Task rows by state, ended ones included.", byLabel(counts.tasks)) +
    writeFamily("leasehold_deployments", "gauge", "Deployments by status, ended ones included.", byLabel(counts.deployments)) +
    writeFamily("leasehold_evaluations_due", "gauge", "Evaluations waiting for an instance: due, and not held by one under its visibility timeout.", [
      { suffix: "", labels: [], value: counts.evaluationsDue },
    ])
  );
}
