// The secret commands in-process against a real control plane with secrets on: put (literal, file, stdin),
// list, versions, get, rm, rekey, and a put rolled out to the job that uses the secret.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DeploymentDetail, SecretVersionsResponse } from "../../cli/api-types";
import { startNodeServer } from "../../worker/node";
import { startCliHarness, type CliHarness } from "./harness";

const key = (fill: number) => btoa(String.fromCharCode(...new Uint8Array(32).fill(fill)));
const KEY = key(7);

let h: CliHarness;

afterEach(async () => {
  await h.close();
});

describe("secret commands", () => {
  beforeEach(async () => {
    h = await startCliHarness({ secretsKey: KEY });
  });

  it("puts a literal, warns that it is in the shell history, and never prints it", async () => {
    const put = await h.cli(["secret", "put", "db-password", "--from-literal", "hunter2-literal"]);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toBe("secret default/db-password version 1 stored (15 bytes)\nno running job follows its latest: nothing to roll out\n");
    expect(put.stderr).toContain("warning: --from-literal leaves the value in your shell history");
    expect(put.stderr).not.toContain("hunter2-literal");

    const get = await h.cli(["secret", "get", "db-password"]);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toBe("hunter2-literal");
  });

  it("puts a file's bytes exactly: binary values come back byte for byte, by version", async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const file = join(h.dir, "tls.key");
    writeFileSync(file, bytes);
    const put = await h.cli(["secret", "put", "tls-key", "--from-file", file]);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toContain("secret default/tls-key version 1 stored (256 bytes)\n");
    expect(put.stderr).toBe("");

    writeFileSync(file, "second");
    expect((await h.cli(["secret", "put", "tls-key", "--from-file", file])).stdout).toContain("version 2 stored (6 bytes)");

    const first = await h.cliBytes(["secret", "get", "tls-key", "--version", "1"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.equals(Buffer.from(bytes))).toBe(true);
    expect((await h.cli(["secret", "get", "tls-key"])).stdout).toBe("second");

    const json = await h.cli(["secret", "get", "tls-key", "--version", "1", "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ version: 1, encoding: "base64", value: Buffer.from(bytes).toString("base64") });

    const missing = await h.cli(["secret", "put", "tls-key", "--from-file", join(h.dir, "nope")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`error: cannot read ${join(h.dir, "nope")}: ENOENT\n`);
  });

  it("reads the value from piped stdin, newline and all, and refuses a terminal", async () => {
    const put = await h.cli(["secret", "put", "api-token"], { stdin: "from-stdin\n" });
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toContain("secret default/api-token version 1 stored (11 bytes)");
    expect(put.stderr).toBe("");
    expect((await h.cli(["secret", "get", "api-token"])).stdout).toBe("from-stdin\n");

    const tty = await h.cli(["secret", "put", "other"], { stdinTty: true });
    expect(tty.code).toBe(1);
    expect(tty.stderr).toBe("error: no value given: pass --from-file PATH or --from-literal VALUE, or pipe it in (leasehold secret put NAME < file)\n");
    expect((await h.cli(["secret", "versions", "other"])).code).toBe(1);
  });

  it("refuses --from-file with --from-literal and stores nothing", async () => {
    const file = join(h.dir, "value");
    writeFileSync(file, "x");
    const both = await h.cli(["secret", "put", "db-password", "--from-file", file, "--from-literal", "y"]);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/option '--from-file <path>' cannot be used with option '--from-literal <value>'/);
    expect((await h.cli(["secret", "list"])).stdout).toBe("no secrets in namespace default\n");
  });

  it("sends --no-rollout: the version is stored as not rolled out", async () => {
    await h.cli(["secret", "put", "db-password", "--from-literal", "one"]);
    const put = await h.cli(["secret", "put", "db-password", "--from-literal", "two", "--no-rollout"]);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toBe("secret default/db-password version 2 stored (3 bytes)\nnot rolled out (--no-rollout): jobs that follow its latest take it at their next apply\n");
    const versions = JSON.parse((await h.cli(["secret", "versions", "db-password", "--json"])).stdout) as SecretVersionsResponse;
    expect(versions.versions.map((v) => [v.version, v.rollout])).toEqual([
      [2, false],
      [1, true],
    ]);
  });

  it("lists secrets and versions with names, versions and sizes, never values", async () => {
    await h.cli(["secret", "put", "db-password", "--from-literal", "value-one"]);
    await h.cli(["secret", "put", "db-password", "--from-literal", "value-two!"]);
    await h.cli(["secret", "put", "api-token"], { stdin: "value-three" });

    const list = await h.cli(["secret", "list"]);
    expect(list.code, list.stderr).toBe(0);
    const rows = list.stdout.trimEnd().split("\n").map((l) => l.split(/\s{2,}/));
    expect(rows).toEqual([
      ["NAME", "LATEST", "VERSIONS", "BYTES", "UPDATED", "USED BY"],
      ["api-token", "1", "1", "11", expect.stringMatching(/^\d+s ago$/), "-"],
      ["db-password", "2", "2", "10", expect.stringMatching(/^\d+s ago$/), "-"],
    ]);

    const versions = await h.cli(["secret", "versions", "db-password"]);
    expect(versions.code, versions.stderr).toBe(0);
    const lines = versions.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^VERSION\s+BYTES\s+KEY\s+ROLLOUT\s+BY\s+AGE$/);
    expect(lines.slice(1, 3).map((l) => l.split(/\s+/).slice(0, 4))).toEqual([
      ["2", "10", expect.stringMatching(/^k/), "yes"],
      ["1", "9", expect.stringMatching(/^k/), "yes"],
    ]);
    expect(lines[3]).toBe("used by no running job");

    const json = await h.cli(["secret", "list", "-o", "json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ secrets: [{ name: "api-token", latest: 1 }, { name: "db-password", latest: 2, versions: 2 }] });
    for (const out of [list.stdout, versions.stdout, json.stdout, (await h.cli(["secret", "versions", "db-password", "--json"])).stdout]) {
      expect(out).not.toMatch(/value-(one|two|three)/);
      expect(out).not.toContain(Buffer.from("value-two!").toString("base64"));
    }
  });

  it("deletes a secret with all its versions", async () => {
    await h.cli(["secret", "put", "db-password", "--from-literal", "one"]);
    await h.cli(["secret", "put", "db-password", "--from-literal", "two"]);
    const rm = await h.cli(["secret", "rm", "db-password"]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toBe("secret default/db-password deleted (2 versions)\n");
    expect((await h.cli(["secret", "list"])).stdout).toBe("no secrets in namespace default\n");

    const again = await h.cli(["secret", "rm", "db-password"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('error: there is no secret "db-password" in namespace default\n');
  });

  it("rekeys every value under the first key; the values still read", async () => {
    await h.cli(["secret", "put", "db-password", "--from-literal", "one"]);
    await h.cli(["secret", "put", "api-token"], { stdin: "two" });
    const keyIdOf = async (addr: string, name: string) =>
      (JSON.parse((await h.cli(["secret", "versions", name, "--json"], { env: { LEASEHOLD_ADDR: addr } })).stdout) as SecretVersionsResponse).versions[0]?.keyId;
    const oldKey = await keyIdOf(h.server.url, "db-password");

    // The same data dir served with a new first key, the old one kept to decrypt what it encrypted.
    const next = await startNodeServer({ dataDir: join(h.dir, "data"), port: 0, sweep: false, log: () => {}, secretsKey: `${key(9)},${KEY}` });
    try {
      const at = { env: { LEASEHOLD_ADDR: next.url } };
      const rekey = await h.cli(["secret", "rekey"], at);
      expect(rekey.code, rekey.stderr).toBe(0);
      const newKey = await keyIdOf(next.url, "db-password");
      expect(newKey).not.toBe(oldKey);
      expect(rekey.stdout).toBe(`re-encrypted 2 of 2 stored values under key ${newKey}; keys after the first in LEASEHOLD_SECRETS_KEY can now be removed\n`);
      expect(await keyIdOf(next.url, "api-token")).toBe(newKey);
      expect((await h.cli(["secret", "get", "api-token"], at)).stdout).toBe("two");

      const json = await h.cli(["secret", "rekey", "--json"], at);
      expect(JSON.parse(json.stdout)).toEqual({ keyId: newKey, rekeyed: 0, total: 2 });
    } finally {
      await next.close();
    }
  });

  it("rolls a new version out to the job that uses the secret, and names the deployment to follow", async () => {
    await h.cli(["secret", "put", "db-password", "--from-literal", "one"]);
    const job = "name: web\nimage: nginx:1\nreplicas: 1\nresources: { cpu: 100, memory: 64 }\nsecrets:\n  - { name: db-password, file: /run/secrets/db-password }\n";
    // No agent: the job is stored and waits for room (exit 2), and it uses the secret all the same.
    const applied = await h.cli(["apply", h.jobFile("web.yaml", job)]);
    expect(applied.stdout, applied.stderr).toContain("job default/web applied: version 1");

    const put = await h.cli(["secret", "put", "db-password", "--from-literal", "two"]);
    expect(put.code, put.stderr).toBe(0);
    const deployment = await h.api<DeploymentDetail>("GET", "/v1/namespaces/default/jobs/web/deployment");
    expect(deployment).toMatchObject({ version: 2, cause: { secret: "db-password", version: 2 } });
    expect(put.stdout).toBe(
      "secret default/db-password version 2 stored (3 bytes)\n" +
        "rolling out to 1 job:\n" +
        `  web: version 2, deployment ${deployment.id.slice(0, 8)}\n` +
        "follow with: leasehold rollout status web\n",
    );

    expect((await h.cli(["secret", "list"])).stdout).toMatch(/\ndb-password\s+2\s+2\s+3\s+\d+s ago\s+web\n/);
    expect((await h.cli(["secret", "versions", "db-password"])).stdout).toMatch(/\nused by: web\n$/);
    const rm = await h.cli(["secret", "rm", "db-password"]);
    expect(rm.code).toBe(1);
    expect(rm.stderr).toBe('error: secret "db-password" is used by running jobs: web; stop them or change them first\n');
  });

  it("shows the API's detail and exits 1 for a value it cannot find", async () => {
    const get = await h.cli(["secret", "get", "nope"]);
    expect(get.code).toBe(1);
    expect(get.stdout).toBe("");
    expect(get.stderr).toBe('error: there is no secret "nope" in namespace default\n');
  });
});

describe("secret commands on a control plane without a secrets key", () => {
  beforeEach(async () => {
    h = await startCliHarness();
  });

  it("put exits 1 with the problem's detail", async () => {
    const put = await h.cli(["secret", "put", "db-password", "--from-literal", "x"]);
    expect(put.code).toBe(1);
    expect(put.stdout).toBe("");
    expect(put.stderr).toContain("error: the control plane has no LEASEHOLD_SECRETS_KEY: set it to store secrets\n");
  });
});
