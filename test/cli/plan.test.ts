// leasehold plan in-process against a real control plane (Node server, libSQL file), with a hollow agent as
// the fleet: what it prints, and its exit codes, which are nomad job plan's (0 no change, 1 changes, 255 error).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PlanResponse } from "../../api/job-plan";
import { HollowAgent, httpFetcher } from "../../bench/hollow-agent";
import { formatSlots } from "../../cli/commands/plan";
import { EXIT, PLAN_EXIT } from "../../cli/exit-codes";
import { runCli } from "../../cli/main";
import { parseConfig } from "../../worker/config";
import { startNodeServer, type NodeServer } from "../../worker/node";

let server: NodeServer;
let dir: string;
let token: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-cli-plan-"));
  server = await startNodeServer({ dataDir: join(dir, "data"), port: 0, sweep: false, config: parseConfig({}), log: () => {} });
  if (!server.adminToken) throw new Error("a fresh data dir should yield an admin token");
  token = server.adminToken;
});

afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { HOME: dir, XDG_CONFIG_HOME: join(dir, "xdg"), LEASEHOLD_ADDR: server.url, LEASEHOLD_TOKEN: token, ...env },
    fetch: globalThis.fetch,
  });
  return { code, stdout, stderr };
}

function jobFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const WEB = `name: web
image: nginx:1.27
replicas: 2
resources: { cpu: 250, memory: 128 }
`;

async function enroll(name: string): Promise<HollowAgent> {
  const res = await fetch(`${server.url}/v1/join-tokens`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: "{}" });
  const agent = new HollowAgent(httpFetcher(server.url), name);
  await agent.enroll(((await res.json()) as { token: string }).token);
  await agent.heartbeat();
  return agent;
}

describe("leasehold plan", () => {
  it("exits 1 for a new job, with its placements and the guarded apply to run; the apply it names works", async () => {
    await enroll("node-a");
    const file = jobFile("web.yaml", WEB);
    const r = await cli(["plan", file]);
    expect(r.code, r.stderr).toBe(PLAN_EXIT.changes);
    expect(r.stderr).toBe("");
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("job default/web: new job, version 1 with 2 replicas");
    expect(lines).toContain("  + image: nginx:1.27");
    expect(lines).toContainEqual(expect.stringMatching(/^NODE\s+PLACED\s+STOPPED\s+KEPT\s+ROLLED$/));
    expect(lines).toContainEqual(expect.stringMatching(/^node-a\s+0-1\s+-\s+-\s+-$/));
    expect(lines.at(-1)).toBe(`apply with: leasehold apply ${file} --check-version 0`);

    const applied = await cli(["apply", file, "--check-version", "0"]);
    expect(applied.code, applied.stderr).toBe(EXIT.ok);
  });

  it("exits 0 for an unchanged file, 1 for a scale or a new version, each saying what it saw", async () => {
    await enroll("node-a");
    const file = jobFile("web.yaml", WEB);
    expect((await cli(["apply", file])).code).toBe(EXIT.ok);

    const same = await cli(["plan", file]);
    expect(same.code, same.stderr).toBe(PLAN_EXIT.unchanged);
    expect(same.stdout.split("\n")[0]).toBe("job default/web: no change (version 1, 2 replicas)");
    expect(same.stdout).toMatch(/\nnode-a\s+-\s+-\s+0-1\s+-\n/);
    expect(same.stdout.trimEnd().split("\n").at(-1)).toBe(`apply with: leasehold apply ${file} --check-version 1`);

    const scale = await cli(["plan", jobFile("more.yaml", WEB.replace("replicas: 2", "replicas: 4"))]);
    expect(scale.code).toBe(PLAN_EXIT.changes);
    expect(scale.stdout).toMatch(/^job default\/web: scale from 2 to 4, version 1 stays\n  ~ replicas: 2 → 4\n/);
    expect(scale.stdout).toMatch(/\nnode-a\s+2-3\s+-\s+0-1\s+-\n/);

    const image = await cli(["plan", jobFile("v2.yaml", WEB.replace("nginx:1.27", "nginx:1.28"))]);
    expect(image.code).toBe(PLAN_EXIT.changes);
    expect(image.stdout).toMatch(/^job default\/web: new version 2 \(now 1\) with 2 replicas, rolled out under its update strategy\n  ~ image: nginx:1.27 → nginx:1.28\n/);
    expect(image.stdout).toMatch(/\nnode-a\s+-\s+-\s+-\s+0-1\n/);

    // Nothing was applied by any of it.
    const status = await cli(["-o", "json", "status", "web"]);
    expect((JSON.parse(status.stdout) as { job: { version: number } }).job.version).toBe(1);
  });

  it("--json (or -o json) prints the control plane's answer, with the same exit codes", async () => {
    const file = jobFile("web.yaml", WEB);
    const r = await cli(["plan", file, "--json"]);
    expect(r.code).toBe(PLAN_EXIT.changes);
    const answer = JSON.parse(r.stdout) as PlanResponse;
    expect(answer).toMatchObject({ jobId: "default/web", change: "create", current: null, version: 1, replicas: 2, nodes: [] });
    expect(answer.unplaced.map((u) => u.slot)).toEqual([0, 1]);
    expect(answer.unplaced[0]?.reason).toBe("no node with 250m cpu and 128MiB memory: the fleet has no nodes");
    expect((await cli(["-o", "json", "plan", file])).stdout).toBe(r.stdout);

    expect((await cli(["apply", file])).code).toBe(EXIT.unplaced);
    const same = await cli(["plan", file, "--json"]);
    expect(same.code).toBe(PLAN_EXIT.unchanged);
    expect(JSON.parse(same.stdout)).toMatchObject({ change: "none", current: { version: 1, replicas: 2, status: "running" } });
  });

  it("says which slots would not be placed, and puts -n in the apply it names", async () => {
    const file = jobFile("web.yaml", WEB);
    const r = await cli(["-n", "default", "plan", file]);
    expect(r.code).toBe(PLAN_EXIT.changes);
    expect(r.stdout).toContain("\nslot 0 would not be placed: no node with 250m cpu and 128MiB memory: the fleet has no nodes\n");
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe(`apply with: leasehold apply ${file} --check-version 0 -n default`);
  });

  it("exits 255 for every error: an invalid or missing file, a refused token, no control plane, bad usage", async () => {
    const invalid = await cli(["plan", jobFile("bad.yaml", "name: Web\nimage: x\nreplicas: -1\n")]);
    expect(invalid.code).toBe(PLAN_EXIT.error);
    expect(invalid.stdout).toBe("");
    expect(invalid.stderr.split("\n")[0]).toMatch(/bad\.yaml is not a valid job file$/);
    expect(invalid.stderr).toContain("  replicas: ");

    const missing = await cli(["plan", join(dir, "nope.yaml")]);
    expect(missing.code).toBe(PLAN_EXIT.error);
    expect(missing.stderr).toMatch(/^error: cannot read .*nope\.yaml: ENOENT\n$/);

    const file = jobFile("web.yaml", WEB);
    const refused = await cli(["plan", file], { LEASEHOLD_TOKEN: "not-a-token" });
    expect(refused.code).toBe(PLAN_EXIT.error);
    expect(refused.stderr).toMatch(/^error: not authenticated: /);

    const closedPort = await new Promise<number>((done) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address() as { port: number };
        s.close(() => done(port));
      });
    });
    const down = await cli(["plan", file], { LEASEHOLD_ADDR: `http://127.0.0.1:${closedPort}` });
    expect(down.code).toBe(PLAN_EXIT.error);
    expect(down.stderr).toBe(`error: cannot reach the control plane at http://127.0.0.1:${closedPort}: ECONNREFUSED\n`);

    const otherNamespace = await cli(["plan", jobFile("ns.yaml", `namespace: prod\n${WEB}`)]);
    expect(otherNamespace.code).toBe(PLAN_EXIT.error);
    expect(otherNamespace.stderr).toBe('error: namespace "prod" does not exist\n');

    expect((await cli(["plan"])).code).toBe(PLAN_EXIT.error);
    expect((await cli(["plan", file, "--frobnicate"])).code).toBe(PLAN_EXIT.error);
    // Other commands keep their codes.
    expect((await cli(["apply"])).code).toBe(EXIT.error);
  });

  it("documents its exit codes in its help, which exits 0", async () => {
    const help = await cli(["plan", "--help"]);
    expect(help.code).toBe(0);
    for (const code of Object.values(PLAN_EXIT)) expect(help.stdout).toMatch(new RegExp(`\\n  ${code}\\s+\\S`));
    expect((await cli(["--help"])).stdout).toMatch(/\n {2}plan /);
  });
});

describe("formatSlots", () => {
  it("writes runs of slots as ranges", () => {
    expect(formatSlots([])).toBe("-");
    expect(formatSlots([3])).toBe("3");
    expect(formatSlots([0, 1, 2, 5, 7, 8])).toBe("0-2, 5, 7-8");
  });
});
