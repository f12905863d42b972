// Real containers: apply → running for 1 and for 20 replicas on one real agent (its own process), against raw
// `docker run -d` of as many containers, and the agent's RSS with 20 tasks running.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RAW_LABEL, TEST_COMMAND, TEST_IMAGE, rawDockerRun, removeContainers, removeLabelled } from "./ceilings";
import { startControlPlane, type BenchControlPlane } from "./cluster";
import { overCommittedNodes } from "./invariants";
import { benchScript, onEarlyExit, processRssKiB, spawnBenchChild } from "./processes";
import { median, sleep, waitFor } from "./stats";

export interface ContainersResult {
  replicas: number;
  runs: number;
  /** Median ms from sending the apply to every task reported running. */
  applyToRunningMs: number;
  /** Median ms for `docker run -d` of as many containers at once. */
  rawDockerMs: number;
  /** Agent RSS with these tasks running (KiB), median over runs. */
  agentRssKiB: number;
}

interface JobView {
  tasks: { state: string; desired: string }[];
}

async function runningCount(cp: BenchControlPlane, name: string): Promise<number> {
  const job = await cp.api<JobView>("GET", `/v1/namespaces/default/jobs/${name}`);
  return job.tasks.filter((t) => t.state === "running" && t.desired === "run").length;
}

export async function realContainers(opts: { replicas: number[]; runs: number; capMs: number }, log: (line: string) => void): Promise<{ results: ContainersResult[]; overCommitted: number }> {
  // A 1 s heartbeat so that stopping a job between runs takes a second, not five; apply → running does not wait on it
  // (the agent's claim long-poll is woken at once, and it reports new tasks with an early heartbeat).
  const cp = await startControlPlane({ config: { heartbeatInterval: "1s", leaseTtl: "3s" } });
  const dataDir = mkdtempSync(join(tmpdir(), "leasehold-bench-agent-"));
  const nodeName = `bench-real-${process.pid}`;
  const nodeLabel = `io.leasehold.node=${nodeName}`;
  const forget = onEarlyExit(() => {
    rmSync(dataDir, { recursive: true, force: true });
    for (const label of [nodeLabel, RAW_LABEL]) {
      const ids = execFileSync("docker", ["ps", "-aq", "--filter", `label=${label}`], { encoding: "utf8", timeout: 30_000 }).split("\n").filter((id) => id.trim() !== "");
      if (ids.length > 0) execFileSync("docker", ["rm", "-f", ...ids], { timeout: 60_000 });
    }
  });
  const agent = await spawnBenchChild<{ nodeId: string; pid: number }>(benchScript("real-agent.ts"), {
    server: cp.url,
    joinToken: await cp.joinToken(),
    name: nodeName,
    dataDir,
  });
  try {
    await waitFor("the real agent's node to be ready", 30_000, 100, async () => {
      const r = await cp.db.execute({ sql: "SELECT status FROM nodes WHERE name = ?", args: [nodeName] });
      return r.rows[0]?.["status"] === "ready" ? true : undefined;
    });
    const results: ContainersResult[] = [];
    let seq = 0;
    for (const replicas of opts.replicas) {
      const applied: number[] = [];
      const raw: number[] = [];
      const rss: number[] = [];
      for (let run = 0; run < opts.runs; run++) {
        const name = `real-${replicas}-${seq++}`;
        const t = performance.now();
        // A short stop grace: busybox httpd as PID 1 ignores SIGTERM, and the default 10 s would dominate the stops.
        await cp.apply({ name, image: TEST_IMAGE, command: TEST_COMMAND, replicas, resources: { cpu: 50, memory: 16 }, stopGrace: "1s" });
        await waitFor(`${replicas} real tasks running`, opts.capMs, 50, async () => ((await runningCount(cp, name)) >= replicas ? true : undefined));
        applied.push(performance.now() - t);
        await sleep(500); // let the agent settle before reading its memory
        rss.push(processRssKiB(agent.pid));
        log(`    ${replicas} replicas: running after ${(applied[applied.length - 1] ?? 0).toFixed(0)} ms, agent RSS ${((rss[rss.length - 1] ?? 0) / 1024).toFixed(1)} MiB`);

        // Stop the job and wait until its containers are gone, so runs do not stack up.
        await cp.api("POST", `/v1/namespaces/default/jobs/${name}/stop`, {});
        await waitFor(`the ${name} containers to stop`, opts.capMs, 200, async () => {
          const job = await cp.api<JobView>("GET", `/v1/namespaces/default/jobs/${name}`);
          return job.tasks.every((t) => t.state !== "running" && t.state !== "leased") ? true : undefined;
        });

        const r = await rawDockerRun(replicas);
        raw.push(r.ms);
        await removeContainers(r.ids);
      }
      results.push({ replicas, runs: opts.runs, applyToRunningMs: median(applied), rawDockerMs: median(raw), agentRssKiB: median(rss) });
    }
    return { results, overCommitted: await overCommittedNodes(cp.db) };
  } finally {
    await agent.stop();
    await removeLabelled(nodeLabel).catch(() => 0);
    await removeLabelled(RAW_LABEL).catch(() => 0);
    await cp.close();
    rmSync(dataDir, { recursive: true, force: true });
    forget();
  }
}
