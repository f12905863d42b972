// The scheduler: a pure function from (jobs, nodes, tasks, now) to a plan. See README.md for the pipeline.
export { schedule } from "./schedule";
export { applyPlan } from "./apply-plan";
export type { ApplyOptions } from "./apply-plan";
export {
  CPU,
  MEMORY,
  NODE_DRAINING,
  NODE_INELIGIBLE,
  NODE_NOT_READY,
  portReason,
} from "./reasons";
export { constraintReason } from "./constraints";
export type * from "./types";
