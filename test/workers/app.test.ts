// The Worker entry inside workerd: a job apply + get through the real fetch handler, with libSQL over HTTP.
import { env } from "cloudflare:workers";
import { createClient } from "@libsql/client/web";
import { describe, expect, it } from "vitest";
import { createStore } from "../../db/store.ts";
import { generateSigningKey } from "../../worker/auth/keys.ts";
import { bootstrap } from "../../worker/bootstrap.ts";
import { recordOperatorToken } from "../../worker/auth/operator-tokens.ts";
import { systemClock } from "../../worker/clock.ts";
import worker, { type Env } from "../../worker/index.ts";
import { HollowAgent } from "../../bench/hollow-agent.ts";

const ctx = { waitUntil: (_p: Promise<unknown>) => {}, passThroughOnException: () => {}, props: {} };

async function setup() {
  const { keys, privateJwk } = await generateSigningKey();
  const store = createStore(createClient({ url: env.LIBSQL_URL }));
  const admin = await bootstrap(store, keys, systemClock, 3_600_000);
  // The suite shares one database: after the first bootstrap, tests record an admin token of their own.
  const token = admin ?? (await recordOperatorToken(store, keys, systemClock, { subject: "workers-test", roles: { "*": "admin" }, ttlMs: 3_600_000, createdBy: "test" }));
  const workerEnv: Env = { LIBSQL_URL: env.LIBSQL_URL, LEASEHOLD_SIGNING_KEY: JSON.stringify(privateJwk) };
  const call = (method: string, path: string, body?: string, contentType = "application/json") =>
    worker.fetch(
      new Request(`https://leasehold.test${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": contentType } : {}) },
        ...(body ? { body } : {}),
      }) as never,
      workerEnv,
      ctx as never,
    ) as unknown as Promise<Response>;
  return { token, call, workerEnv };
}

describe("worker entry in workerd", () => {
  it("runs inside workerd", () => {
    expect(navigator.userAgent).toBe("Cloudflare-Workers");
  });

  it("applies a job and reads it back through libSQL over HTTP", async () => {
    const { token, call } = await setup();
    expect(token).not.toBe("");
    const yaml = "name: edge\nreplicas: 2\nimage: leasehold-test/busybox:latest\nresources:\n  cpu: 250\n  memory: 32\n";
    const applied = await call("POST", "/v1/jobs", yaml, "application/yaml");
    expect(applied.status).toBe(200);
    const body = (await applied.json()) as { job: { id: string; version: number }; changed: boolean };
    expect(body).toMatchObject({ job: { id: "default/edge", version: 1 }, changed: true });

    const got = await call("GET", "/v1/namespaces/default/jobs/edge");
    expect(got.status).toBe(200);
    const job = (await got.json()) as { spec: { replicas: number; resources: { cpu: number } }; job: { status: string } };
    expect(job.spec).toMatchObject({ replicas: 2, resources: { cpu: 250 } });
    expect(job.job.status).toBe("running");

    const again = await call("POST", "/v1/jobs", yaml, "application/yaml");
    expect(((await again.json()) as { changed: boolean }).changed).toBe(false);

    const bad = await call("POST", "/v1/jobs", JSON.stringify({ name: "x", image: "i", resources: { cpu: -1, memory: 8 } }));
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toContain("application/problem+json");
    expect(((await bad.json()) as { errors: { path: string }[] }).errors[0]?.path).toBe("resources.cpu");

    const unauth = await worker.fetch(new Request("https://leasehold.test/v1/nodes") as never, { LIBSQL_URL: env.LIBSQL_URL, LEASEHOLD_SIGNING_KEY: "{}" }, ctx as never);
    expect(unauth.status).toBe(500);
  });

  it("serves the agent protocol: enroll, claim and heartbeat through libSQL over HTTP", async () => {
    const { call, workerEnv } = await setup();
    const joined = await call("POST", "/v1/join-tokens", JSON.stringify({}));
    expect(joined.status).toBe(201);
    const { token } = (await joined.json()) as { token: string };
    const fetcher = (path: string, init: RequestInit) =>
      worker.fetch(new Request(`https://leasehold.test${path}`, init) as never, workerEnv, ctx as never) as unknown as Promise<Response>;
    const agent = new HollowAgent(fetcher, "edge-1", { region: "edge" });
    await agent.enroll(token);
    await agent.heartbeat();
    const yaml = "name: agent-edge\nreplicas: 2\nimage: leasehold-test/busybox:latest\nconstraints: [{ attribute: region, value: edge }]\n";
    const applied = (await (await call("POST", "/v1/jobs", yaml, "application/yaml")).json()) as { evaluation: { placed: number } };
    expect(applied.evaluation.placed).toBe(2);
    // The suite shares one database: slots of earlier tests' jobs that waited for a node land here too.
    const claimed = await agent.claim();
    expect(claimed.leases.length).toBeGreaterThanOrEqual(2);
    const beat = await agent.heartbeat();
    expect(beat.revoked).toEqual([]);
    expect(beat.renewed).toHaveLength(claimed.leases.length);
    const job = (await (await call("GET", "/v1/namespaces/default/jobs/agent-edge")).json()) as { tasks: { state: string }[] };
    expect(job.tasks.map((t) => t.state)).toEqual(["running", "running"]);
  });

  it("serves the OpenAPI document and JWKS", async () => {
    const { call } = await setup();
    const doc = (await (await call("GET", "/openapi.json")).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain("/v1/jobs");
    const jwks = (await (await call("GET", "/.well-known/jwks.json")).json()) as { keys: { crv: string; d?: string }[] };
    expect(jwks.keys[0]?.crv).toBe("Ed25519");
    expect(jwks.keys[0]?.d).toBeUndefined();
  });

  it("follows the event stream inside workerd, polling the store, and ends it after its lifetime", async () => {
    const { call, workerEnv, token } = await setup();
    const name = `stream-${crypto.randomUUID().slice(0, 8)}`;
    const yaml = `name: ${name}\nimage: leasehold-test/busybox:latest\nresources:\n  cpu: 10\n  memory: 8\n`;
    expect((await call("POST", "/v1/jobs", yaml, "application/yaml")).status).toBe(200);
    const env2: Env = { ...workerEnv, LEASEHOLD_STREAM_POLL_INTERVAL: "200ms", LEASEHOLD_STREAM_LIFETIME: "4s" };
    const res = (await worker.fetch(
      new Request(`https://leasehold.test/v1/events?follow=1&namespace=default&job=${name}`, { headers: { authorization: `Bearer ${token}` } }) as never,
      env2,
      ctx as never,
    )) as unknown as Response;
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    expect((await call("POST", `/v1/namespaces/default/jobs/${name}/scale`, JSON.stringify({ replicas: 2 }))).status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let ended = false;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      text += decoder.decode(value, { stream: true });
    }
    const events = text
      .split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => JSON.parse(l.slice(6)) as { type: string; job: string });
    expect(events.map((e) => e.type)).toContain("job.scale");
    expect(events.every((e) => e.job === name)).toBe(true);
    expect(text).toMatch(/^id: \d+$/m);
    expect(ended).toBe(true);
  });
});
