// The deployment and rollout commands, and apply --wait following a deployment, in-process against a real
// control plane with hollow agents as the fleet.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DeploymentDetail, JobDetail } from "../../cli/api-types";
import { EXIT } from "../../cli/exit-codes";
import { eventually, startCliHarness, type CliHarness } from "./harness";

let h: CliHarness;

beforeEach(async () => {
  h = await startCliHarness();
});

afterEach(async () => {
  await h.close();
});

/** A service job; `update` is its update block (minHealthy short, so rollouts take a second or two). */
function web(opts: { image?: string; replicas?: number; update?: string } = {}): string {
  return `name: web\nimage: ${opts.image ?? "nginx:1"}\nreplicas: ${opts.replicas ?? 3}\nresources: { cpu: 100, memory: 64 }\nupdate: { minHealthy: 300ms${opts.update ? `, ${opts.update}` : ""} }\n`;
}

/** Applies version 1 and waits for it, with one live agent. */
async function firstVersion(opts: Parameters<typeof web>[0] = {}): Promise<void> {
  h.keepAlive(await h.enroll("node-a"));
  const r = await h.cli(["apply", h.jobFile("v1.yaml", web(opts)), "--wait", "--timeout", "20s"]);
  expect(r.code, r.stderr).toBe(0);
}

const latest = () => h.api<DeploymentDetail>("GET", "/v1/namespaces/default/jobs/web/deployment");

/** Waits until the job's latest deployment (of `version`) is in the state `ok` says. */
function until(version: number, ok: (d: DeploymentDetail) => boolean, what: string): Promise<DeploymentDetail> {
  return eventually(async () => {
    const d = await latest();
    return d.version === version && ok(d) ? d : undefined;
  }, what);
}

const ESC = "\x1b";

/** Resolves `seen` once the output passed to `listen` has contained `text`. */
function said(text: string): { listen: (chunk: string) => void; seen: Promise<void> } {
  let out = "";
  let done: () => void = () => {};
  const seen = new Promise<void>((resolve) => (done = resolve));
  return {
    listen: (chunk) => {
      out += chunk;
      if (out.includes(text)) done();
    },
    seen,
  };
}

describe("deployment list and status", () => {
  it("lists a job's deployments, shows one with its slots and events, and prints the API's answer with --json", async () => {
    await firstVersion();
    const applied = await h.cli(["apply", h.jobFile("v2.yaml", web({ image: "nginx:2" })), "--wait", "--timeout", "20s"]);
    expect(applied.code, applied.stderr).toBe(0);

    const list = await h.cli(["deployment", "list"]);
    expect(list.code, list.stderr).toBe(0);
    const lines = list.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+JOB\s+VERSION\s+STATUS\s+AGE\s+DESCRIPTION$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/))).toEqual([
      [expect.stringMatching(/^[0-9a-f]{8}$/), "web", "1 → 2", "successful", expect.stringMatching(/^\d+s$/), "every slot runs version 2 healthy"],
      [expect.stringMatching(/^[0-9a-f]{8}$/), "web", "1", "successful", expect.stringMatching(/^\d+s$/), "every slot runs version 1 healthy"],
    ]);
    expect((await h.cli(["deployment", "list", "web", "--status", "failed"])).stdout).toBe("job default/web has no deployments\n");

    const status = await h.cli(["deployment", "status", "web"]);
    expect(status.code, status.stderr).toBe(0);
    const d = await latest();
    expect(status.stdout).toContain(`deployment:   ${d.id}\n`);
    expect(status.stdout).toContain("job:          default/web\nstatus:       successful\ndescription:  every slot runs version 2 healthy\nversions:     1 → 2\n");
    expect(status.stdout).toContain("counts:       3 desired, 0 canaries, 3 placed, 3 healthy, 0 old, 0 offline\n");
    const table = status.stdout.split("\n").filter((l) => /^(SLOT|\d) /.test(l));
    expect(table[0]).toMatch(/^SLOT\s+NODE\s+REGION\s+STATE\s+HEALTHY\s+OLD VERSION$/);
    expect(table.slice(1).map((l) => l.split(/\s+/))).toEqual([0, 1, 2].map((slot) => [String(slot), "node-a", "global", "running", "yes", "-"]));
    expect(status.stdout).toMatch(/\nEvents:\n {2}TIME \(UTC\)\s+TYPE\s+MESSAGE\n {2}\S+ \S+\s+deployment\.started\s+version 1 to 2\n(.*\n)* {2}\S+ \S+\s+deployment\.successful\s+version 2 rolled out\n/);

    // An id prefix names the same deployment; the first version is another one.
    const first = JSON.parse((await h.cli(["deployment", "list", "web", "--json"])).stdout) as { deployments: { id: string }[] };
    expect(first.deployments.map((x) => x.id)[0]).toBe(d.id);
    const older = first.deployments[1]?.id ?? "";
    expect((await h.cli(["deployment", "status", older.slice(0, 8)])).stdout).toContain(`deployment:   ${older}\njob:          default/web\nstatus:       successful\n`);

    // --json (and -o json) print the API's answer as it is.
    const listJson = await h.cli(["deployment", "list", "--json"]);
    expect(JSON.parse(listJson.stdout)).toEqual(await h.api("GET", "/v1/namespaces/default/deployments"));
    const detail = JSON.parse((await h.cli(["deployment", "status", "web", "--json"])).stdout) as DeploymentDetail;
    const fromApi = await latest();
    expect(detail).toEqual(fromApi);
    expect(JSON.parse((await h.cli(["-o", "json", "deployment", "status", d.id])).stdout)).toEqual(fromApi);

    const missing = await h.cli(["deployment", "status", "nope"]);
    expect(missing).toEqual({ code: EXIT.error, stdout: "", stderr: "error: no job with a deployment and no deployment id nope in namespace default\n" });
  });
});

describe("steering a deployment", () => {
  it("waits for a promote of its canary, which moves it on to the other slots", async () => {
    await firstVersion({ update: "canary: 1" });
    expect((await h.cli(["apply", h.jobFile("v2.yaml", web({ image: "nginx:2", update: "canary: 1" }))])).code).toBe(0);
    const shown = said("promote with:");
    const following = h.cli(["rollout", "status", "web", "--timeout", "30s"], { onStdout: shown.listen });
    // Promoted once the follower has shown the wait for it, so the test sees what an operator would.
    await shown.seen;
    const waiting = await latest();
    // The old version still serves every slot beside the canary.
    expect(waiting.counts).toMatchObject({ desired: 3, canaries: 1, healthy: 0, old: 3 });
    expect((await h.cli(["deployment", "status", "web"])).stdout).toMatch(/\ncanary 1\s+node-a\s+global\s+running\s+yes\s+-\n0\s+-\s+global\s+-\s+no\s+1\n/);

    const short = waiting.id.slice(0, 8);
    const promoted = await h.cli(["deployment", "promote", "web"]);
    expect(promoted).toEqual({ code: 0, stdout: `deployment ${short} of default/web (version 2) promoted: the rollout goes on to the other slots\n`, stderr: "" });

    const r = await following;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^deployment ${short} of default/web: version 1 → 2\n`));
    expect(r.stdout).toContain("  v2: 0/3 healthy, canary 1/1 healthy, v1: 3 still serving (1 canary healthy: waiting for promote)\n");
    expect(r.stdout).toContain(`  promote with: leasehold deployment promote ${short}\n`);
    expect(r.stdout).toMatch(/\n {2}deployment\.promoted: promoted by \S+\n/);
    expect(r.stdout).toMatch(new RegExp(`\ndeployment ${short} of default/web successful: every slot runs version 2 healthy \\(\\d+\\.\\ds\\)\n$`));

    // Once it has ended there is nothing to promote.
    const again = await h.cli(["deployment", "promote", short]);
    expect(again.code).toBe(EXIT.error);
    expect(again.stderr).toBe(`error: deployment ${waiting.id} is successful: only a running or paused deployment can be changed\n`);
  });

  it("refuses to promote a canary that is not healthy yet, unless --force", async () => {
    await firstVersion({ update: "canary: 1" });
    // A minHealthy of a minute: the canary runs, but is not healthy within the test.
    await h.cli(["apply", h.jobFile("v2.yaml", web({ image: "nginx:2", update: "canary: 1" }).replace("minHealthy: 300ms", "minHealthy: 1m"))]);
    await until(2, (d) => d.slots.some((s) => s.canary && s.state === "running"), "the canary to run");
    const refused = await h.cli(["deployment", "promote", "web"]);
    expect(refused).toEqual({ code: EXIT.error, stdout: "", stderr: "error: 0 of 1 canaries are healthy: wait, or promote with force\n" });
    const forced = await h.cli(["deployment", "promote", "web", "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/ promoted: the rollout goes on to the other slots\n$/);
    expect((await latest()).promoted).toBe(true);
  });

  it("pauses a rollout, which then updates no more slots, and resumes it to the end", async () => {
    await firstVersion({ update: "parallelism: 1" });
    await h.cli(["apply", h.jobFile("v2.yaml", web({ image: "nginx:2", update: "parallelism: 1" }))]);
    const paused = await h.cli(["deployment", "pause", "web"]);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(/^deployment [0-9a-f]{8} of default\/web \(version 2\) paused: no more slots are updated until it is resumed\n$/);
    expect((await h.cli(["deployment", "pause", "web"])).stderr).toMatch(/^error: deployment \S+ is paused already\n$/);

    // Slot 0 was already being replaced; slots 1 and 2 keep the old version for as long as it is paused.
    await new Promise((r) => setTimeout(r, 1_500));
    const status = await h.cli(["deployment", "status", "web"]);
    expect(status.stdout).toContain("status:       paused\n");
    expect(status.stdout).toMatch(/\ndescription: {2}paused: \d of 3 slots at version 2\n/);
    expect((await latest()).counts.old).toBe(2);
    const timedOut = await h.cli(["rollout", "status", "web", "--timeout", "1s"]);
    expect(timedOut.code).toBe(EXIT.timeout);
    expect(timedOut.stdout).toMatch(/\n {2}resume with: leasehold deployment resume [0-9a-f]{8}\n/);
    expect(timedOut.stderr).toMatch(/^error: deployment [0-9a-f]{8} of default\/web not ready after 1\.\ds: v2: \d\/3 healthy, .*v1: 2 still serving \(paused: .*\); .*slot 1: v1 still serving; slot 2: v1 still serving\n$/);

    const resumed = await h.cli(["deployment", "resume", "web"]);
    expect(resumed.stdout).toMatch(/ \(version 2\) resumed\n$/);
    const r = await h.cli(["rollout", "status", "web", "--timeout", "30s"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/successful: every slot runs version 2 healthy \(\d+\.\ds\)\n$/);
  });

  it("fails a rollout on request, and rollout status then exits 3 with the reason", async () => {
    await firstVersion({ update: "canary: 1" });
    await h.cli(["apply", h.jobFile("v2.yaml", web({ image: "nginx:2", update: "canary: 1" }))]);
    const failed = await h.cli(["deployment", "fail", "web"]);
    expect(failed.code, failed.stderr).toBe(0);
    expect(failed.stdout).toMatch(/^deployment ([0-9a-f]{8}) of default\/web \(version 2\) failed: by \S+\n$/);
    const short = failed.stdout.slice("deployment ".length, "deployment ".length + 8);
    const r = await h.cli(["rollout", "status", "web"]);
    expect(r.code).toBe(EXIT.failed);
    expect(r.stderr).toMatch(new RegExp(`^error: deployment ${short} of default/web failed: by \\S+\n$`));
    expect((await h.cli(["deployment", "resume", "web"])).stderr).toMatch(/is failed: only a running or paused deployment can be changed\n$/);
  });
});

describe("rollout status", () => {
  it("exits 3 with the deployment's reason and the task's last error when a new task fails", async () => {
    const agent = await h.enroll("node-a");
    const v2Tasks = new Set<string>();
    h.keepAlive(agent, {
      // Every copy of version 2 fails as it starts, as a crashing image does.
      afterClaim: async (a) => {
        const detail = await h.api<JobDetail>("GET", "/v1/namespaces/default/jobs/web").catch(() => null);
        for (const t of detail?.tasks ?? []) if (t.version === 2) v2Tasks.add(t.id);
        for (const l of a.leases.values()) {
          if (!v2Tasks.has(l.taskId) || l.state === "failed") continue;
          l.state = "failed";
          l.exitCode = 1;
          l.message = "listen tcp :80: bind: address already in use";
        }
      },
    });
    expect((await h.cli(["apply", h.jobFile("v1.yaml", web()), "--wait", "--timeout", "20s"])).code).toBe(0);
    await h.cli(["apply", h.jobFile("v2.yaml", web({ image: "nginx:2" }))]);
    const r = await h.cli(["rollout", "status", "web", "--timeout", "30s"]);
    expect(r.code, r.stderr).toBe(EXIT.failed);
    expect(r.stderr).toMatch(/^error: deployment [0-9a-f]{8} of default\/web failed: slot 0 of version 2 failed\n {2}slot 0: failed \(listen tcp :80: bind: address already in use\)\n$/);
    // No escape codes when stdout is not a terminal: one plain line per change.
    expect(r.stdout).not.toContain(ESC);
    expect(r.stdout).toMatch(/\n {2}deployment\.failed: slot 0 of version 2 failed\n/);
  });

  it("exits 5 when a newer version supersedes the deployment it follows", async () => {
    await firstVersion({ update: "canary: 1" });
    await h.cli(["apply", h.jobFile("v2.yaml", web({ image: "nginx:2", update: "canary: 1" }))]);
    const following = h.cli(["rollout", "status", "web", "--timeout", "30s"]);
    await until(2, (d) => d.slots.some((s) => s.canary && s.taskId !== null), "the canary to be placed");
    await h.cli(["apply", h.jobFile("v3.yaml", web({ image: "nginx:3", update: "canary: 1" }))]);
    const r = await following;
    expect(r.code).toBe(EXIT.cancelled);
    expect(r.stderr).toMatch(/^error: deployment [0-9a-f]{8} of default\/web was cancelled: superseded by version 3\n$/);
  });

  it("on a terminal, redraws a board of marks in place; NO_COLOR keeps the redraw without colours", async () => {
    await firstVersion({ update: "canary: 1" });
    await h.cli(["apply", h.jobFile("v2.yaml", web({ image: "nginx:2", update: "canary: 1" }))]);
    const [shownColour, shownPlain] = [said("waiting for promote"), said("waiting for promote")];
    const colour = h.cli(["rollout", "status", "web", "--timeout", "30s"], { stdoutTty: 100, onStdout: shownColour.listen });
    const plain = h.cli(["rollout", "status", "web", "--timeout", "30s"], { stdoutTty: 100, env: { NO_COLOR: "1" }, onStdout: shownPlain.listen });
    await Promise.all([shownColour.seen, shownPlain.seen]);
    await h.cli(["deployment", "promote", "web"]);
    const [r, noColour] = await Promise.all([colour, plain]);
    expect(r.code, r.stderr).toBe(0);
    // Each frame after the first goes back up over the one before and clears it.
    expect(r.stdout).toMatch(new RegExp(`${ESC}\\[\\d+A\r${ESC}\\[J`));
    expect(r.stdout).toContain(`${ESC}[32m#${ESC}[0m`);
    expect(noColour.code, noColour.stderr).toBe(0);
    expect(noColour.stdout).not.toMatch(new RegExp(`${ESC}\\[\\d+m`));
    const frames = noColour.stdout.split(new RegExp(`${ESC}\\[\\d+A\r${ESC}\\[J`));
    const waiting = frames.find((f) => f.includes("waiting for promote"));
    expect(waiting).toMatch(/^deployment [0-9a-f]{8} of default\/web: version 1 → 2 {2}running {2}\d+s\n {2}canaries {2}# {4}canary 1\/1 healthy\n {2}slots {5}ooo {2}v2: 0\/3 healthy, v1: 3 still serving\n {2}1 canary healthy: waiting for promote\n {2}promote with: leasehold deployment promote [0-9a-f]{8}\n {2}# healthy {2}o old version\n$/);
    expect(frames.at(-1)).toMatch(/^deployment .*successful.*\n {2}slots {2}### {2}v2: 3\/3 healthy\n {2}every slot runs version 2 healthy\n {2}# healthy\ndeployment [0-9a-f]{8} of default\/web successful: every slot runs version 2 healthy \(\d+\.\ds\)\n$/);
  });
});

describe("apply --wait", () => {
  it("follows a new version's deployment, telling old replicas from new ones, and exits 0 once it is done", async () => {
    await firstVersion();
    const r = await h.cli(["apply", h.jobFile("v2.yaml", web({ image: "nginx:2" })), "--wait", "--timeout", "30s"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^job default\/web applied: version 2\n(.*\n)*job default\/web ready: every slot runs version 2 healthy \(\d+\.\ds\)\n$/);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^waiting for default\/web: deployment [0-9a-f]{8}, version 1 → 2$/);
    // While the old version serves, it is counted as such, not as replicas missing.
    expect(lines).toContainEqual(expect.stringMatching(/^waiting for default\/web: v2: [012]\/3 healthy, (\d starting, )?(\d not placed yet, )?v1: [12] still serving \(/));
    expect(lines).toContain("waiting for default/web: v2: 3/3 healthy (every slot runs version 2 healthy)");
    expect(r.stderr).not.toMatch(/\d\/3 running/);
    expect(r.stderr).not.toContain(ESC);
  });

  it("waits for the tasks, as before, for a scale: no new version, no deployment", async () => {
    await firstVersion({ replicas: 2 });
    const r = await h.cli(["apply", h.jobFile("v1-3.yaml", web({ replicas: 3 })), "--wait", "--timeout", "20s"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^job default\/web scaled from 2 to 3: version 1\n(.*\n)*job default\/web ready: 3\/3 running, 3 healthy \(\d+\.\ds\)\n$/);
    expect(r.stderr).not.toContain("deployment");
  });
});
