// Bounded parsing of request bodies and job files: depth, size and YAML features, refused as problems
// with field paths, changing nothing, and never echoed to the console.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { JobFileError, readJobFile } from "../../api/job-file";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { expectJson, expectProblem, snapshotCounts } from "./helpers";

let cp: TestControlPlane;

beforeEach(async () => {
  cp = await createTestControlPlane();
});

afterEach(async () => {
  vi.restoreAllMocks();
  await cp.settled();
  cp.close();
});

const WEB = "name: web\nimage: nginx:1.27\nreplicas: 1\n";
const deep = (n: number) => "[".repeat(n) + "]".repeat(n);

/** Sends a body, expects this problem, and checks no table changed. */
async function expectRefusedBody(path: string, body: string, contentType: string, status: number, kind: string) {
  const before = await snapshotCounts(cp);
  const problem = await expectProblem(await cp.call("POST", path, { body, headers: { "content-type": contentType } }), status, kind);
  expect(await snapshotCounts(cp)).toEqual(before);
  return problem;
}

describe("depth limits", () => {
  it("refuses a JSON body nested past 64 levels on a validated route, before its validator", async () => {
    const problem = await expectRefusedBody("/v1/tokens", `{"subject":"x","roles":${deep(10_000)}}`, "application/json", 400, "validation");
    expect(problem.detail).toBe("request body is nested deeper than 64 levels (at line 1, column 87)");
    expect(problem.errors).toEqual([{ path: "(root)", message: "nested deeper than 64 levels (at line 1, column 87)" }]);
  });

  it("counts brackets inside strings as text, not nesting", async () => {
    const res = await cp.call("POST", "/v1/namespaces", { body: { name: "brackets", description: deep(500) } });
    await expectJson(res, 201);
  });

  it("refuses a job nested too deep, as JSON and as YAML", async () => {
    const json = await expectRefusedBody("/v1/jobs", `{"name":"web","image":"nginx","env":${deep(100)}}`, "application/json", 400, "validation");
    expect(json.detail).toMatch(/^request body is nested deeper than 64 levels/);
    const yaml = await expectRefusedBody("/v1/jobs", `${WEB}env: ${deep(100)}\n`, "application/yaml", 400, "validation");
    expect(yaml.detail).toMatch(/^job file is nested deeper than 64 levels/);
    const block = Array.from({ length: 70 }, (_, i) => `${" ".repeat(i)}a:`).join("\n");
    expect((await expectRefusedBody("/v1/jobs", `${WEB}env:\n ${block} 1\n`, "application/yaml", 400, "validation")).detail).toMatch(/nested deeper than 64/);
    expect((await expectRefusedBody("/v1/jobs", `${WEB}env: ${"- ".repeat(100)}x\n`, "application/yaml", 400, "validation")).detail).toMatch(/nested deeper than 64/);
  });

  it("refuses aliases that nest past the limit once expanded, and an alias of itself", async () => {
    const self = await expectRefusedBody("/v1/jobs", `${WEB}env: &a [*a]\n`, "application/yaml", 400, "validation");
    expect(self.detail).toMatch(/nested deeper than 64 levels once its aliases are expanded/);
  });

  it("refuses a YAML job file over 64 KiB with 413, and one of too many tokens", async () => {
    await expectRefusedBody("/v1/jobs", `${WEB}# ${"x".repeat(70_000)}\n`, "application/yaml", 413, "too-large");
    const many = WEB + "env:\n" + Array.from({ length: 2_000 }, (_, i) => `  V${i}: x`).join("\n") + "\n";
    expect((await expectRefusedBody("/v1/jobs", many, "application/yaml", 413, "too-large")).detail).toMatch(/more than 4096 tokens/);
  });

  it("refuses a token that may apply jobs nowhere before parsing the job", async () => {
    const viewer = await cp.token({ default: "viewer" });
    const problem = await expectProblem(await cp.call("POST", "/v1/jobs", { token: viewer, body: `${WEB}env: ${deep(100)}\n`, headers: { "content-type": "application/yaml" } }), 403, "forbidden");
    expect(problem.detail).toBe("token has no operator role on any namespace");
  });

  it("bounds the CLI's local job-file check the same way", () => {
    const started = performance.now();
    expect(() => readJobFile(deep(500_000))).toThrow(JobFileError);
    expect(performance.now() - started).toBeLessThan(1_000);
    try {
      readJobFile(`{"name":"web","image":"nginx","env":${deep(100)}}`);
    } catch (err) {
      expect((err as JobFileError).reason).toBe("too-deep");
    }
    // A JSON job file is read as JSON, a YAML flow mapping falls back to YAML.
    expect(readJobFile('{"name":"web","image":"nginx"}').name).toBe("web");
    expect(readJobFile("{name: web, image: nginx}").name).toBe("web");
  });
});

describe("YAML features", () => {
  /** Console and process-warning writes made while the block runs. */
  function consoleWrites(): () => string[] {
    const seen: string[] = [];
    const record = (...args: unknown[]) => void seen.push(args.map(String).join(" "));
    for (const method of ["log", "warn", "error", "info", "debug"] as const) vi.spyOn(console, method).mockImplementation(record);
    vi.spyOn(process, "emitWarning").mockImplementation(record as typeof process.emitWarning);
    return () => seen;
  }

  it("refuses tags outside the core schema with the field's path, and prints nothing", async () => {
    const writes = consoleWrites();
    const fn = await expectRefusedBody("/v1/jobs", "name: web\nimage: !!js/function 'function () { return 1 }'\n", "application/yaml", 400, "validation");
    expect(fn.errors).toEqual([{ path: "image", message: expect.stringMatching(/tags other than the core schema/) }]);
    const custom = await expectRefusedBody("/v1/jobs", `${WEB}env:\n  A: !secret "x"\n`, "application/yaml", 400, "validation");
    expect(custom.errors?.map((e) => e.path)).toEqual(["env.A"]);
    const key = await expectRefusedBody("/v1/jobs", `${WEB}env:\n  !k A: x\n`, "application/yaml", 400, "validation");
    expect(key.errors?.map((e) => e.path)).toEqual(["env.A"]);
    expect(writes()).toEqual([]);
  });

  it("refuses %TAG and %YAML directives", async () => {
    const writes = consoleWrites();
    const tag = await expectRefusedBody("/v1/jobs", `%TAG !e! tag:example.com,2000:app/\n---\n${WEB}`, "application/yaml", 400, "validation");
    expect(tag.detail).toMatch(/directives/);
    await expectRefusedBody("/v1/jobs", `%YAML 1.1\n---\n${WEB}`, "application/yaml", 400, "validation");
    expect(writes()).toEqual([]);
  });

  it("accepts the core schema's own tags", async () => {
    const res = await cp.call("POST", "/v1/jobs", { body: `name: !!str web\nimage: nginx:1.27\nreplicas: !!int 1\n`, headers: { "content-type": "application/yaml" } });
    await expectJson(res);
  });

  it("never quotes the document in a syntax error", async () => {
    const problem = await expectRefusedBody("/v1/jobs", `${WEB}env: [secret-value\n`, "application/yaml", 400, "validation");
    expect(problem.detail).not.toContain("secret-value");
    expect(problem.detail).toMatch(/^job file is not valid YAML or JSON at line \d+, column \d+/);
  });
});
