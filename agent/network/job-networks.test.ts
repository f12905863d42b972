import { describe, expect, it } from "vitest";
import { networkAliases, networkName, networkServes } from "./job-networks";

const owner = { cluster: "c1", nodeId: "n1" };
const task = { namespace: "default", jobId: "job-id-1", job: "Web_App", slot: 2 };

describe("job network names", () => {
  it("are readable, and differ by owner, by job and between a job's network and its namespace's", () => {
    const name = networkName(owner, task);
    expect(name).toMatch(/^lh-default-web-app-[0-9a-f]{12}$/);
    expect(networkName(owner, { ...task, slot: 0 })).toBe(name);
    const others = [
      networkName({ ...owner, cluster: "c2" }, task),
      networkName({ ...owner, nodeId: "n2" }, task),
      networkName(owner, { ...task, jobId: "job-id-2" }),
      networkName(owner, { ...task, network: "namespace" }),
    ];
    expect(new Set([name, ...others]).size).toBe(5);
    expect(networkName(owner, { ...task, network: "namespace" })).toBe(networkName(owner, { ...task, jobId: "other", job: "other", network: "namespace" }));
    expect(networkName(owner, { ...task, job: "x".repeat(300) }).length).toBeLessThanOrEqual(63);
  });

  it("serve the job by id unless the task asks for its namespace's", () => {
    expect(networkServes(task)).toEqual({ kind: "job", namespace: "default", job: "job-id-1" });
    expect(networkServes({ ...task, network: "namespace" })).toEqual({ kind: "namespace", namespace: "default" });
  });

  it("give each container the aliases <job>-<slot> and <job>, as DNS labels", () => {
    expect(networkAliases(task)).toEqual(["web-app-2", "web-app"]);
  });
});
