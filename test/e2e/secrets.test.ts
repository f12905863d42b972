// End to end on a real Docker engine: a secret put through the API reaches a real container through a
// real agent process, and its plaintext is found nowhere else — not in the control plane's or the agent's
// data dir (database, WAL, leases.json), not in either's log, not in an API response, an event, a
// container label, or any heartbeat or claim body that passed between agent and control plane.
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, type AgentProcess } from "../support/cluster";
import { requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";

const run = promisify(execFile);
const MARKER = `filemark${crypto.randomUUID().replace(/-/g, "")}`;
const ENV_MARKER = `envmark${crypto.randomUUID().replace(/-/g, "")}`;

interface Exchange {
  path: string;
  request: string;
  response: string;
}

/** Forwards agent traffic to the control plane and keeps every request and response body. */
async function recordingProxy(target: string): Promise<{ url: string; exchanges: Exchange[]; close(): Promise<void> }> {
  const exchanges: Exchange[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const request = Buffer.concat(chunks).toString("utf8");
      const headers: Record<string, string> = {};
      for (const h of ["authorization", "content-type"]) if (typeof req.headers[h] === "string") headers[h] = req.headers[h];
      fetch(target + (req.url ?? "/"), { method: req.method ?? "GET", headers, ...(request !== "" ? { body: request } : {}) })
        .then(async (r) => {
          const response = await r.text();
          exchanges.push({ path: req.url ?? "", request, response });
          res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/json" });
          res.end(response);
        })
        .catch(() => {
          res.writeHead(502);
          res.end();
        });
    });
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exchanges,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** Every file under `dir`, as text (binary files included, byte for byte). */
function textUnder(dir: string): string {
  if (!existsSync(dir)) return "";
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name)).toString("latin1"))
    .join("\n");
}

const cluster = new TestCluster();
let proxy: Awaited<ReturnType<typeof recordingProxy>>;
let agent: AgentProcess;
const node = uniqueNode("secrets");

beforeAll(async () => {
  await requireDocker();
  await cluster.start({ heartbeatInterval: "1s", leaseTtl: "3s", sweepInterval: "500ms" });
  proxy = await recordingProxy(cluster.url);
  agent = await cluster.spawnAgent(node, { server: proxy.url });
}, 60_000);

afterAll(async () => {
  await cluster.stop();
  await proxy?.close();
});

async function docker(...args: string[]): Promise<string> {
  return (await run("docker", args)).stdout;
}

describe("a secret end to end", () => {
  it("reaches the container as a tmpfs file, a config file and env, and its plaintext is nowhere else", async () => {
    await cluster.api("PUT", "/v1/namespaces/default/secrets/db-password", { value: MARKER });
    await cluster.api("PUT", "/v1/namespaces/default/secrets/api-key", { value: ENV_MARKER });
    await cluster.api("POST", "/v1/jobs", {
      name: "vault-user",
      image: TEST_IMAGE,
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
      resources: { cpu: 50, memory: 16 },
      stopGrace: "1s",
      secrets: [
        { name: "db-password", file: "/run/secrets/db-password", mode: "0400" },
        { name: "api-key", env: "API_KEY" },
      ],
      config: [{ file: "/etc/app/app.conf", content: 'slot={{ slot }} node={{ node }}\npassword={{ secret "db-password" }}\n', mode: "0440" }],
    });
    await cluster.waitFor("the task running", async () => (await cluster.job("vault-user")).tasks.find((t) => t.state === "running"), 60_000, () => agent.output.join("").slice(-2000));
    const [row] = await cluster.containers(node);
    expect(row, "no running container").toBeDefined();
    const id = row!.Id;

    // The real container reads them, with their modes, from tmpfs.
    expect(await docker("exec", id, "cat", "/run/secrets/db-password")).toBe(MARKER);
    expect((await docker("exec", id, "stat", "-c", "%a", "/run/secrets/db-password", "/etc/app/app.conf")).trim().split("\n")).toEqual(["400", "440"]);
    expect(await docker("exec", id, "cat", "/etc/app/app.conf")).toBe(`slot=0 node=${node}\npassword=${MARKER}\n`);
    expect((await docker("exec", id, "sh", "-c", 'echo "$API_KEY"')).trim()).toBe(ENV_MARKER);
    const mounts = (await docker("exec", id, "cat", "/proc/mounts")).split("\n");
    for (const path of ["/run/secrets/db-password", "/etc/app/app.conf"]) {
      expect(mounts.find((m) => m.split(" ")[1] === path), `${path} in /proc/mounts`).toMatch(/^\S+ \S+ tmpfs ro[, ]/);
    }

    // Nowhere else. The API as an operator reads it:
    const reads = await Promise.all(
      [
        "/v1/namespaces/default/jobs/vault-user",
        "/v1/namespaces/default/jobs/vault-user/versions",
        "/v1/namespaces/default/jobs/vault-user/events",
        "/v1/namespaces/default/deployments",
        "/v1/namespaces/default/secrets",
        "/v1/namespaces/default/secrets/db-password/versions",
        "/v1/nodes",
      ].map(async (p) => (await fetch(cluster.url + p, { headers: { authorization: `Bearer ${cluster.token}` } })).text()),
    );
    // A refused request that carries the value: the control plane logs it (a refusal is logged at debug), never with the value.
    const refused = await fetch(`${cluster.url}/v1/namespaces/default/secrets/db-password`, {
      method: "PUT",
      headers: { authorization: `Bearer ${cluster.token}`, "content-type": "application/json" },
      body: JSON.stringify({ value: MARKER, unexpected: true }),
    });
    expect(refused.status).toBe(400);
    reads.push(await refused.text());
    const inspect = JSON.parse(await docker("inspect", id)) as { Config: { Labels: Record<string, string>; Env: string[] } }[];
    const claims = proxy.exchanges.filter((e) => e.path === "/v1/agent/claim");
    const heartbeats = proxy.exchanges.filter((e) => e.path === "/v1/agent/heartbeat");
    expect(claims.some((e) => e.response.includes('"sealed":"')), "no claim reply carried a sealed payload").toBe(true);
    expect(heartbeats.length).toBeGreaterThan(0);
    const places: [string, string][] = [
      ["the control plane's data dir (database and WAL)", textUnder(join(cluster.dir, "cp"))],
      ["the agent's data dir (leases.json and all)", textUnder(agent.dataDir)],
      ["the control plane's log", cluster.controlPlaneLog.join("\n")],
      ["the agent's log", agent.output.join("")],
      ["API responses", reads.join("\n")],
      ["container labels", JSON.stringify(inspect[0]!.Config.Labels)],
      ["claim and heartbeat bodies", JSON.stringify(proxy.exchanges)],
    ];
    for (const [where, text] of places) {
      expect(text.length, `${where}: nothing was read`).toBeGreaterThan(0);
      expect(text.includes(MARKER), `the file secret is in ${where}`).toBe(false);
      expect(text.includes(ENV_MARKER), `the env secret is in ${where}`).toBe(false);
    }
    // As documented: an env secret is visible to docker inspect; a file secret is not.
    expect(inspect[0]!.Config.Env).toContain(`API_KEY=${ENV_MARKER}`);
    expect(JSON.stringify(inspect).includes(MARKER)).toBe(false);
    const events = await cluster.server.controlPlane.deps.store.client.execute("SELECT group_concat(message, ' ') AS m FROM events");
    expect(String(events.rows[0]?.["m"])).not.toContain(MARKER);

    // Stopped: the container's tmpfs files go with it.
    const hostDirs = inspect.length > 0 ? (JSON.parse(await docker("inspect", "-f", "{{json .Mounts}}", id)) as { Source: string; Type: string }[]).filter((m) => m.Type === "bind").map((m) => m.Source) : [];
    expect(hostDirs.length).toBe(2);
    await cluster.api("POST", "/v1/namespaces/default/jobs/vault-user/stop", {});
    await cluster.waitFor("the secret files removed from the host", async () => (hostDirs.every((p) => !existsSync(p)) ? true : undefined), 30_000);
  }, 120_000);
});
