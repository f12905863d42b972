// `leasehold agent` in-process with a stand-in runAgent: where the join token comes from (a file or the
// environment, so it is not in `ps`), and the options it passes on.
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_MESH_PORT, DEFAULT_METRICS_ADDR, type AgentOptions } from "../../cli/commands/agent";
import { runCli } from "../../cli/main";

const SERVER = "http://127.0.0.1:1";
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-agent-cli-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `leasehold agent …`; the stand-in agent stops as soon as it has started. */
async function agentCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string; received: AgentOptions | undefined }> {
  const signals = new EventEmitter();
  let received: AgentOptions | undefined;
  let stderr = "";
  const code = await runCli(["agent", "--server", SERVER, ...args], {
    stdout: { write: () => true },
    stderr: { write: (s: string) => (stderr += s) },
    env,
    fetch: globalThis.fetch,
    signals,
    runAgent: async (opts) => {
      received = opts;
      setTimeout(() => signals.emit("SIGTERM"), 0);
      return { nodeId: "n", stop: async () => {} };
    },
  });
  return { code, stderr, received };
}

describe("leasehold agent's mesh port", () => {
  it("is --mesh-port, else LEASEHOLD_MESH_PORT, else the default; --no-mesh opens none", async () => {
    expect((await agentCli([])).received?.meshPort).toBe(DEFAULT_MESH_PORT);
    expect((await agentCli([], { LEASEHOLD_MESH_PORT: "0" })).received?.meshPort).toBe(0);
    expect((await agentCli(["--mesh-port", "7900"], { LEASEHOLD_MESH_PORT: "0" })).received?.meshPort).toBe(7900);
    expect((await agentCli(["--no-mesh"])).received?.meshPort).toBeNull();
    const bad = await agentCli([], { LEASEHOLD_MESH_PORT: "70000" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/LEASEHOLD_MESH_PORT must be a port number from 0 to 65535/);
    expect((await agentCli(["--mesh-port", "x"])).code).not.toBe(0);
  });
});

describe("leasehold agent's metrics address", () => {
  it("is --metrics-addr, else LEASEHOLD_METRICS_ADDR, else loopback on the default port; off and --no-metrics serve none", async () => {
    expect(DEFAULT_METRICS_ADDR).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await agentCli([])).received?.metricsAddr).toBe(DEFAULT_METRICS_ADDR);
    expect((await agentCli([], { LEASEHOLD_METRICS_ADDR: "0.0.0.0:9100" })).received?.metricsAddr).toBe("0.0.0.0:9100");
    expect((await agentCli(["--metrics-addr", "[::1]:0"], { LEASEHOLD_METRICS_ADDR: "0.0.0.0:9100" })).received?.metricsAddr).toBe("[::1]:0");
    expect((await agentCli(["--metrics-addr", "off"])).received?.metricsAddr).toBeNull();
    expect((await agentCli([], { LEASEHOLD_METRICS_ADDR: "off" })).received?.metricsAddr).toBeNull();
    expect((await agentCli(["--no-metrics"], { LEASEHOLD_METRICS_ADDR: "0.0.0.0:9100" })).received?.metricsAddr).toBeNull();
    const bad = await agentCli([], { LEASEHOLD_METRICS_ADDR: "9100" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/LEASEHOLD_METRICS_ADDR must be HOST:PORT/);
    expect((await agentCli(["--metrics-addr", "localhost:70000"])).code).not.toBe(0);
    expect((await agentCli(["--metrics-addr", "::1:9100"])).code).not.toBe(0);
  });
});

describe("leasehold agent's join token", () => {
  it("is read from --join-token-file, trimmed, without a warning", async () => {
    const file = join(dir, "join-token");
    writeFileSync(file, "lhj_file.secret\n", { mode: 0o600 });
    const r = await agentCli(["--join-token-file", file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.received?.joinToken).toBe("lhj_file.secret");
    expect(r.stderr).not.toContain("warning");
  });

  it("is read from LEASEHOLD_JOIN_TOKEN", async () => {
    const r = await agentCli([], { LEASEHOLD_JOIN_TOKEN: "lhj_env.secret" });
    expect(r.received?.joinToken).toBe("lhj_env.secret");
    expect(r.stderr).not.toContain("warning");
  });

  it("still works on the command line, with a warning that ps shows it", async () => {
    const r = await agentCli(["--join-token", "lhj_argv.secret"]);
    expect(r.received?.joinToken).toBe("lhj_argv.secret");
    expect(r.stderr).toContain("warning: a join token on the command line is visible to other users in ps");
  });

  it("refuses a missing or empty file, and both sources at once", async () => {
    const missing = await agentCli(["--join-token-file", join(dir, "nope")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: cannot read the join token file .*nope/);
    const empty = join(dir, "empty");
    writeFileSync(empty, "\n");
    expect((await agentCli(["--join-token-file", empty])).stderr).toMatch(/^error: the join token file .* is empty/);
    const both = await agentCli(["--join-token", "a", "--join-token-file", empty]);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain("not both");
    expect(both.received).toBeUndefined();
  });
});

describe("leasehold agent's options", () => {
  it("leaves the region to the join token unless given, and passes --keep-exited and --log-level on", async () => {
    const plain = await agentCli([]);
    expect(plain.received).not.toHaveProperty("region");
    const r = await agentCli(["--region", "eu", "--keep-exited", "0", "--log-level", "warn"]);
    expect(r.received).toMatchObject({ region: "eu", keepExited: 0, logLevel: "warn" });
    const bad = await agentCli(["--log-level", "loud"]);
    expect(bad.code).toBe(1);
  });

  it("takes the secrets dir from --secrets-dir, else LEASEHOLD_SECRETS_DIR, as an absolute path; absent, the agent's default", async () => {
    expect((await agentCli([])).received).not.toHaveProperty("secretsDir");
    expect((await agentCli([], { LEASEHOLD_SECRETS_DIR: "/dev/shm/from-env" })).received?.secretsDir).toBe("/dev/shm/from-env");
    const flag = await agentCli(["--secrets-dir", "rel/secrets"], { LEASEHOLD_SECRETS_DIR: "/dev/shm/from-env" });
    expect(flag.received?.secretsDir).toBe(join(process.cwd(), "rel/secrets"));
  });
});

describe("leasehold agent's advertised addresses", () => {
  it("are left to the agent to detect unless given", async () => {
    expect((await agentCli([])).received).not.toHaveProperty("advertise");
  });

  it("come from repeated --advertise or a comma-separated list, scope region unless said", async () => {
    const r = await agentCli(["--advertise", "10.0.0.5", "--advertise", "203.0.113.7,scope=public,2001:db8::1,scope=region"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.received?.advertise).toEqual([
      { address: "10.0.0.5", scope: "region" },
      { address: "203.0.113.7", scope: "public" },
      { address: "2001:db8::1", scope: "region" },
    ]);
  });

  it("come from LEASEHOLD_ADVERTISE when no flag is given (the flag wins)", async () => {
    const env = { LEASEHOLD_ADVERTISE: "192.0.2.10,scope=public 10.1.1.1" };
    expect((await agentCli([], env)).received?.advertise).toEqual([
      { address: "192.0.2.10", scope: "public" },
      { address: "10.1.1.1", scope: "region" },
    ]);
    expect((await agentCli(["--advertise", "10.2.2.2"], env)).received?.advertise).toEqual([{ address: "10.2.2.2", scope: "region" }]);
  });

  it("refuse what is not an address, an unknown scope, a scope with no address, and more than the control plane takes", async () => {
    for (const args of [["--advertise", "host.example"], ["--advertise", "10.0.0.1,scope=lan"], ["--advertise", "scope=public"]]) {
      const r = await agentCli(args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.received).toBeUndefined();
    }
    expect((await agentCli([], { LEASEHOLD_ADVERTISE: "nope" })).stderr).toContain('LEASEHOLD_ADVERTISE: "nope" is not an IP address');
    const many = Array.from({ length: 9 }, (_, i) => `10.0.0.${i + 1}`).join(",");
    expect((await agentCli(["--advertise", many])).stderr).toContain("at most 8 addresses");
  });
});
