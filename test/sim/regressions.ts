// Seeds that found a control-plane bug: each runs in npm test forever after, with what it found.
// (A seed's run depends on the control plane's code too: after a fix, a seed may take another path.)
// Seeds 1-40 run anyway; the ones listed here are named in the test output. Against the code before the
// fencing work, 25 of seeds 1-30 failed; these are representative of what they found.
export const REGRESSION_SEEDS: { seed: number; found: string }[] = [
  { seed: 1, found: "two unexpired leases: a slot's new row was leased while the holder of its old row had been told its lease ran 7.7 s more" },
  { seed: 3, found: "two unexpired leases: an agent restarted a stop task handed back by a claim long after its last renewal, counting its bound from an unrelated heartbeat reply" },
  { seed: 4, found: "two unexpired leases: a rolling update leased the new copy while the old one, asked to stop, still ran" },
  { seed: 6, found: "convergence: a rollout stalled with one slot on the old version and nothing left to evaluate the job" },
  { seed: 9, found: "two unexpired leases: a task was moved in place to another node at epoch 3 while its holder had been told epoch 2 ran 6.9 s more" },
  { seed: 14, found: "convergence: leases of desired-stop copies no agent holds kept being extended (fleet-silence recovery), so a stop-first slot never freed" },
  { seed: 8, found: "update past the parallelism: a node past its drain deadline lifted the budget of every slot of its jobs, not only of its own tasks" },
  { seed: 28, found: "convergence: a rollout left a slot on the old version with no evaluation asked for it" },
  { seed: 5157, found: "(a check, not the control plane) a stop lease an agent held but could not start counted as a copy, and expiry was judged in a frame that moved back when the fastest instance crashed" },
  { seed: 384, found: "(a check, not the control plane) a survivor of a scale whose bad version failed to start on its own counted as restarted by the scale" },
  { seed: 5189, found: "convergence: the fleet-silence recovery extended disconnect-stop leases whose agents had stopped them, holding their slots empty 30 s past the bound" },
];
