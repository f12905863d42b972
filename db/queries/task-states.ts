// Task state lists, spelled once for SQL and for code: which rows hold a node's resources, which may run.
import type { TaskStateColumn } from "../schema";

/** On a node and holding its resources: placed (not yet claimed), leased, running. */
export const LIVE_STATES = ["placed", "leased", "running"] as const satisfies readonly TaskStateColumn[];
/** Held by an agent under a lease: a copy may be running. */
export const HELD_STATES = ["leased", "running"] as const satisfies readonly TaskStateColumn[];
/** Reported by an agent as over: its container is gone or exited. */
export const ENDED_STATES = ["complete", "failed", "stopped"] as const satisfies readonly TaskStateColumn[];
/** Waiting for a node: never placed, or lost and not yet replaced. */
export const WAITING_STATES = ["pending", "lost"] as const satisfies readonly TaskStateColumn[];

const list = (states: readonly string[]) => `(${states.map((s) => `'${s}'`).join(", ")})`;
export const LIVE_SQL = list(LIVE_STATES);
export const HELD_SQL = list(HELD_STATES);
export const WAITING_SQL = list(WAITING_STATES);
export const ENDED_SQL = list(ENDED_STATES);
