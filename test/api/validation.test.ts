// Invalid requests: 400 problem+json naming the offending fields, 413 for oversize bodies, and nothing written.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { applyJson, expectJson, expectProblem, jobSpec, snapshotCounts } from "./helpers";

let cp: TestControlPlane;

beforeEach(async () => {
  cp = await createTestControlPlane();
});

afterEach(async () => {
  await cp.settled();
  cp.close();
});

type FieldError = { path: string; message: string };

/** POSTs a job body (object → JSON, string → as is), expects a 400 validation problem and no change, returns its field errors. */
async function expectInvalidJob(body: unknown, contentType = "application/json"): Promise<{ detail: string; errors: FieldError[] }> {
  const before = await snapshotCounts(cp);
  const problem = await expectProblem(await cp.call("POST", "/v1/jobs", { body, headers: { "content-type": contentType } }), 400, "validation");
  expect(await snapshotCounts(cp)).toEqual(before);
  return { detail: problem.detail, errors: problem.errors ?? [] };
}

const paths = (errors: FieldError[]) => errors.map((e) => e.path);

describe("job spec validation", () => {
  it("control: the base spec used below is valid", async () => {
    expect((await applyJson(cp, jobSpec())).job.version).toBe(1);
  });

  it("rejects an unknown top-level field, naming it", async () => {
    const { errors, detail } = await expectInvalidJob(jobSpec({ replica: 3 }));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.path).toBe("replica");
    expect(errors[0]?.message).toContain('"replica"');
    expect(detail).toContain("replica");
  });

  it("rejects an unknown nested field, at its own path", async () => {
    const { errors } = await expectInvalidJob(jobSpec({ resources: { cpu: 500, memory: 256, gpu: 1 } }));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.path).toBe("resources.gpu");
    expect(errors[0]?.message).toContain('"gpu"');

    const health = await expectInvalidJob(jobSpec({ health: { type: "http", port: "http", retries: 2 } }));
    expect(health.errors.map((e) => [e.path, e.message.includes('"retries"')])).toEqual([["health.retries", true]]);
  });

  it("rejects negative or zero cpu and memory, one error per field", async () => {
    const { errors } = await expectInvalidJob(jobSpec({ resources: { cpu: -100, memory: -1 } }));
    expect(paths(errors).sort()).toEqual(["resources.cpu", "resources.memory"]);
    expect(errors.find((e) => e.path === "resources.cpu")?.message).toContain("millicore");
    expect(paths((await expectInvalidJob(jobSpec({ resources: { cpu: 0, memory: 64 } }))).errors)).toEqual(["resources.cpu"]);
    expect(paths((await expectInvalidJob(jobSpec({ resources: { cpu: 1.5, memory: 64 } }))).errors)).toEqual(["resources.cpu"]);
    expect(paths((await expectInvalidJob(jobSpec({ replicas: -1 }))).errors)).toEqual(["replicas"]);
  });

  it.each([
    ["10 parsecs", "not a duration"],
    ["5", "not a duration"],
    ["-1s", "not a duration"],
    ["", "not a duration"],
    ["1s 2s", "not a duration"],
    ["10ms", "between"], // parses, but below the 100ms minimum of an interval
    ["2h", "between"], // above the 1h maximum
  ])("rejects health.interval %j", async (interval, message) => {
    const { errors } = await expectInvalidJob(jobSpec({ health: { type: "tcp", port: "http", interval } }));
    expect(errors.map((e) => [e.path, e.message.includes(message)])).toEqual([["health.interval", true]]);
  });

  it("rejects a bad duration in every duration field, with its own path", async () => {
    const { errors } = await expectInvalidJob(
      jobSpec({
        health: { type: "tcp", port: "http", timeout: "5" },
        stopGrace: "10 parsecs",
        restart: { delay: "-1s" },
        disconnect: { policy: "stop", after: "soon" },
        update: { minHealthy: 5 },
      }),
    );
    expect(paths(errors).sort()).toEqual(["disconnect.after", "health.timeout", "restart.delay", "stopGrace", "update.minHealthy"]);
  });

  it("rejects invalid YAML and duplicate keys", async () => {
    const broken = await expectInvalidJob("name: web\nimage: [nginx\n", "application/yaml");
    expect(broken.detail).toContain("not valid YAML");
    const tabs = await expectInvalidJob("name: web\n\timage: nginx\n", "application/yaml");
    expect(tabs.detail).toContain("not valid YAML");
    const duplicate = await expectInvalidJob("name: web\nimage: nginx\nimage: redis\n", "application/yaml");
    expect(duplicate.detail).toContain("not valid YAML");
    expect(duplicate.errors).toEqual([{ path: "image", message: "duplicate key" }]);
    // A JSON body is parsed as JSON, and says so.
    const json = await expectInvalidJob('{"name": "web", "image": ', "application/json");
    expect(json.detail).toContain("not valid JSON");
  });

  it("rejects a document that is not a mapping", async () => {
    expect(paths((await expectInvalidJob("- name: web\n- image: nginx\n", "application/yaml")).errors)).toEqual(["(root)"]);
    expect(paths((await expectInvalidJob("just a string", "application/yaml")).errors)).toEqual(["(root)"]);
    expect(paths((await expectInvalidJob("null", "application/json")).errors)).toEqual(["(root)"]);
  });

  it("rejects an empty body", async () => {
    const empty = await expectInvalidJob("");
    expect(empty.detail).toContain("empty");
    const blank = await expectInvalidJob("  \n\t\n", "application/yaml");
    expect(blank.detail).toContain("empty");
    // No body at all.
    const before = await snapshotCounts(cp);
    await expectProblem(await cp.call("POST", "/v1/jobs"), 400, "validation");
    expect(await snapshotCounts(cp)).toEqual(before);
  });

  it("rejects a constraint operator that needs a value or a list", async () => {
    const missing = await expectInvalidJob(jobSpec({ constraints: [{ attribute: "region", operator: "=" }] }));
    expect(missing.errors).toEqual([{ path: "constraints.0.value", message: "operator = needs a value" }]);
    const notList = await expectInvalidJob(jobSpec({ constraints: [{ attribute: "region", value: "eu" }, { attribute: "label.disk", operator: "in", value: "ssd" }] }));
    expect(notList.errors).toEqual([{ path: "constraints.1.value", message: "operator in needs a list" }]);
    const extra = await expectInvalidJob(jobSpec({ constraints: [{ attribute: "label.gpu", operator: "exists", value: "yes" }] }));
    expect(paths(extra.errors)).toEqual(["constraints.0.value"]);
    const attribute = await expectInvalidJob(jobSpec({ constraints: [{ attribute: "hostname", value: "a" }] }));
    expect(paths(attribute.errors)).toEqual(["constraints.0.attribute"]);
  });

  it("rejects duplicate port names at the second one", async () => {
    const { errors } = await expectInvalidJob(
      jobSpec({
        ports: [
          { name: "http", container: 80 },
          { name: "admin", container: 9000 },
          { name: "http", container: 8080 },
        ],
      }),
    );
    expect(errors).toEqual([{ path: "ports.2.name", message: "duplicate port name http" }]);
  });

  it("rejects a health check on a port the job does not declare", async () => {
    const { errors } = await expectInvalidJob(jobSpec({ health: { type: "http", port: "metrics", path: "/" } }));
    expect(errors).toEqual([{ path: "health.port", message: 'health check port "metrics" is not one of the job\'s ports' }]);
    const noPorts = await expectInvalidJob(jobSpec({ ports: [], health: { type: "tcp", port: "http" } }));
    expect(paths(noPorts.errors)).toEqual(["health.port"]);
  });

  it("rejects bad names, images and ports with their paths", async () => {
    const { errors } = await expectInvalidJob(
      jobSpec({ name: "Web_1", namespace: "Bad_NS", image: "", ports: [{ name: "http", container: 70000 }], env: { "1BAD": "x" } }),
    );
    expect(paths(errors).sort()).toEqual(["env.1BAD", "image", "name", "namespace", "ports.0.container"]);
  });

  it("reports every issue of a spec in one answer", async () => {
    const { errors, detail } = await expectInvalidJob(jobSpec({ replicas: "two", resources: { cpu: -1, memory: 64, gpu: 1 } }));
    expect(paths(errors).sort()).toEqual(["replicas", "resources.cpu", "resources.gpu"]);
    for (const e of errors) expect(detail).toContain(e.path);
  });
});

describe("body size limit", () => {
  it("answers 413 problem+json for a job body over bodyLimitBytes, and accepts one under it", async () => {
    const small = await createTestControlPlane({ config: { bodyLimitBytes: 2048 } });
    try {
      const under = jobSpec({ env: { PAD: "x".repeat(1_000) } });
      expect(JSON.stringify(under).length).toBeLessThan(2048);
      expect((await expectJson<{ changed: boolean }>(await small.call("POST", "/v1/jobs", { body: under }))).changed).toBe(true);

      const before = await snapshotCounts(small);
      const over = JSON.stringify(jobSpec({ env: { PAD: "y".repeat(3_000) } }));
      const problem = await expectProblem(await small.call("POST", "/v1/jobs", { body: over }), 413, "too-large");
      expect(problem.detail).toContain("2048");
      // Declared length or not, the limit holds.
      await expectProblem(await small.call("POST", "/v1/jobs", { body: over, headers: { "content-length": String(over.length) } }), 413, "too-large");
      await expectProblem(await small.call("POST", "/v1/namespaces", { body: { name: "big", description: "z".repeat(3_000) } }), 413, "too-large");
      expect(await snapshotCounts(small)).toEqual(before);
    } finally {
      small.close();
    }
  });
});

describe("path and body parameters of other routes", () => {
  it("rejects an invalid namespace or job name in the path with 400", async () => {
    const before = await snapshotCounts(cp);
    for (const [method, path, field] of [
      ["GET", "/v1/namespaces/Bad_NS", "namespace"],
      ["DELETE", "/v1/namespaces/Bad_NS", "namespace"],
      ["GET", "/v1/namespaces/Bad_NS/jobs", "namespace"],
      ["GET", "/v1/namespaces/default/jobs/Bad_Job", "name"],
      ["POST", "/v1/namespaces/default/jobs/-web/stop", "name"],
      ["DELETE", "/v1/namespaces/default/jobs/web-", "name"],
    ] as const) {
      const problem = await expectProblem(await cp.call(method, path), 400, "validation");
      expect(problem.errors?.map((e) => e.path)).toEqual([`param.${field}`]);
    }
    expect(await snapshotCounts(cp)).toEqual(before);
  });

  it("rejects invalid namespace and token bodies with field paths", async () => {
    const before = await snapshotCounts(cp);
    const ns = await expectProblem(await cp.call("POST", "/v1/namespaces", { body: { name: "Bad_NS" } }), 400, "validation");
    expect(ns.errors?.map((e) => e.path)).toEqual(["name"]);
    const nsExtra = await expectProblem(await cp.call("POST", "/v1/namespaces", { body: { name: "ok", owner: "me" } }), 400, "validation");
    expect(nsExtra.errors?.[0]?.message).toContain('"owner"');
    const token = await expectProblem(await cp.call("POST", "/v1/tokens", { body: { subject: "x", roles: { default: "root" }, ttl: "1s" } }), 400, "validation");
    expect(token.errors?.map((e) => e.path).sort()).toEqual(["roles.default", "ttl"]);
    const join = await expectProblem(await cp.call("POST", "/v1/join-tokens", { body: { maxUses: 0, region: "EU West" } }), 400, "validation");
    expect(join.errors?.map((e) => e.path).sort()).toEqual(["maxUses", "region"]);
    const notJson = await expectProblem(await cp.call("POST", "/v1/namespaces", { body: "{name:", headers: { "content-type": "application/json" } }), 400);
    expect(notJson.detail.length).toBeGreaterThan(0);
    expect(await snapshotCounts(cp)).toEqual(before);
  });
});
