// Log follows and execs through the Worker entry inside workerd, with libSQL over HTTP: the follow's event
// stream relays a hollow agent's chunk, and an exec's answer comes back. Each request builds its own control
// plane, as on Workers: the stream and the agent's writes meet only in the store.
import { env } from "cloudflare:workers";
import { createClient } from "@libsql/client/web";
import { describe, expect, it } from "vitest";
import type { ExecView, FollowMessage } from "../../api/agent-requests.ts";
import { HollowAgent } from "../../bench/hollow-agent.ts";
import { createStore } from "../../db/store.ts";
import { recordOperatorToken } from "../../worker/auth/operator-tokens.ts";
import { bootstrap } from "../../worker/bootstrap.ts";
import { generateSigningKey } from "../../worker/auth/keys.ts";
import { systemClock } from "../../worker/clock.ts";
import worker, { type Env } from "../../worker/index.ts";
import { SseReader } from "../support/sse.ts";

const ctx = { waitUntil: (_p: Promise<unknown>) => {}, passThroughOnException: () => {}, props: {} };

async function setup() {
  const { keys, privateJwk } = await generateSigningKey();
  const store = createStore(createClient({ url: env.LIBSQL_URL }));
  // The suite shares one database: the first test to run bootstraps it (the default namespace, an admin).
  const admin = await bootstrap(store, keys, systemClock, 3_600_000);
  const token = admin ?? (await recordOperatorToken(store, keys, systemClock, { subject: "workers-follow", roles: { "*": "admin" }, ttlMs: 3_600_000, createdBy: "test" }));
  const workerEnv: Env = { LIBSQL_URL: env.LIBSQL_URL, LEASEHOLD_SIGNING_KEY: JSON.stringify(privateJwk) };
  const fetcher = (path: string, init: RequestInit) => worker.fetch(new Request(`https://leasehold.test${path}`, init) as never, workerEnv, ctx as never) as unknown as Promise<Response>;
  const call = (method: string, path: string, body?: unknown) =>
    fetcher(path, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { call, fetcher };
}

describe("log follow and exec on Workers", () => {
  it("streams a follow's chunks and returns an exec's answer", async () => {
    const { call, fetcher } = await setup();
    const region = `follow-${crypto.randomUUID().slice(0, 8)}`;
    const joined = (await (await call("POST", "/v1/join-tokens", {})).json()) as { token: string };
    const agent = new HollowAgent(fetcher, region, { region });
    await agent.enroll(joined.token);
    await agent.heartbeat();
    const applied = await call("POST", "/v1/jobs", { name: region, image: "leasehold-test/busybox:latest", resources: { cpu: 10, memory: 8 }, constraints: [{ attribute: "region", value: region }] });
    expect(applied.status).toBe(200);
    await agent.claim();
    await agent.heartbeat();

    const res = await call("GET", `/v1/namespaces/default/jobs/${region}/logs/follow?tail=0`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const stream = new SseReader(res);
    expect(((await stream.next()) as { data: FollowMessage }).data).toMatchObject({ type: "status", message: expect.stringContaining("waiting for the agent") });
    const [order] = (await agent.heartbeat()).follows ?? [];
    expect(order).toBeDefined();
    const post = (path: string, body: unknown) =>
      fetcher(path, { method: "POST", headers: { authorization: `Bearer ${agent.credential}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    expect((await post(`/v1/agent/follows/${order!.id}/chunks`, { seq: 0, output: [{ stream: "stdout", text: "hello from workerd\n" }] })).status).toBe(200);
    const got = await stream.until<FollowMessage>((m) => m.type === "output");
    expect(got.at(-1)).toMatchObject({ type: "output", stream: "stdout", text: "hello from workerd\n", taskId: order!.taskId });
    await stream.cancel();

    const queued = (await (await call("POST", `/v1/namespaces/default/jobs/${region}/exec`, { command: ["sh", "-c", "exit 3"] })).json()) as ExecView;
    expect(queued.status).toBe("pending");
    const [exec] = (await agent.heartbeat()).execs ?? [];
    expect(exec?.id).toBe(queued.id);
    expect((await post(`/v1/agent/execs/${queued.id}/result`, { exitCode: 3, stdout: "", stderr: "nope\n" })).status).toBe(200);
    const done = (await (await call("GET", `/v1/exec/${queued.id}?wait=5s`)).json()) as ExecView;
    expect(done).toMatchObject({ status: "done", exitCode: 3, stderr: "nope\n" });
  });
});
