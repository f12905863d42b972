// leasehold events in-process against a real Node control plane: the recent events as a table and as JSON
// lines, the filters, -f printing what happens after it started until interrupted, and refusals.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FleetEvent } from "../../api/events";
import { eventually, startCliHarness, type CliHarness } from "./harness";

let h: CliHarness;

const job = (name: string, namespace = "default") => ({ name, namespace, image: "leasehold-test/busybox:latest", replicas: 1 });

beforeEach(async () => {
  h = await startCliHarness();
  await h.api("POST", "/v1/namespaces", { name: "prod" });
  await h.api("POST", "/v1/jobs", job("web"));
  await h.api("POST", "/v1/jobs", job("api", "prod"));
  await h.api("POST", "/v1/namespaces/prod/jobs/api/scale", { replicas: 2 });
});

afterEach(async () => {
  await h.close();
});

const types = (stdout: string) =>
  stdout
    .trimEnd()
    .split("\n")
    .slice(1)
    .map((l) => l.split(/\s{2,}/)[1]);

describe("leasehold events", () => {
  it("prints the recent events oldest first as a table, filtered by namespace, job and type", async () => {
    const all = await h.cli(["events"]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout.split("\n")[0]).toMatch(/^TIME\s+TYPE\s+JOB\s+TASK\s+MESSAGE$/);
    expect(types(all.stdout)).toEqual(expect.arrayContaining(["job.version", "job.scale"]));
    expect(all.stdout).toMatch(/default\/web/);

    const prod = await h.cli(["-n", "prod", "events", "--type", "job."]);
    expect(prod.code, prod.stderr).toBe(0);
    expect(types(prod.stdout)).toEqual(["job.version", "job.scale"]);
    expect(prod.stdout).not.toMatch(/default\/web/);

    const json = await h.cli(["events", "--job", "api", "-n", "prod", "--type", "job.scale", "-o", "json"]);
    expect(json.code, json.stderr).toBe(0);
    const lines = json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as FleetEvent);
    expect(lines.map((e) => [e.type, e.namespace, e.job])).toEqual([["job.scale", "prod", "api"]]);
  });

  it("-f prints each new event as it happens, and ends when interrupted", async () => {
    const stop = new AbortController();
    let out = "";
    const run = h.cli(["-n", "default", "events", "-f", "--limit", "0", "--type", "job."], { interrupt: stop.signal, onStdout: (s) => (out += s) });
    // The stream is open once the command has read its start; scale until the scale shows, so the test
    // does not depend on when the stream opened.
    let replicas = 1;
    await eventually(async () => {
      await h.api("POST", "/v1/namespaces/default/jobs/web/scale", { replicas: ++replicas });
      await new Promise((r) => setTimeout(r, 1_500));
      return /job\.scale\s+default\/web/.test(out) ? true : undefined;
    }, "a followed job.scale line");
    expect(out).not.toMatch(/job\.version/);
    expect(out).not.toMatch(/prod\/api/);
    stop.abort();
    const done = await run;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toBe("");
  });

  it("refuses a bad type filter and a job that does not exist", async () => {
    const bad = await h.cli(["events", "--type", "Task"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--type Task: must be event types/);
    const missing = await h.cli(["events", "--job", "nope"]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/no job default\/nope/);
  });
});
