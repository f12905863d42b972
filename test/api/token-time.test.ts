// Tokens issued in the future: a valid signature does not make an "iat" past the clock leeway acceptable,
// for operator tokens and node credentials alike (one verify in worker/auth/tokens.ts).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { recordOperatorToken } from "../../worker/auth/operator-tokens";
import { issueNodeCredential, ISSUED_AT_LEEWAY_MS } from "../../worker/auth/tokens";
import { ManualClock } from "../../worker/clock";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { expectJson, expectProblem, snapshotCounts } from "./helpers";

const DAY = 24 * 3_600_000;
const AHEAD = { "a day": DAY, "ten years": 3_652 * DAY };

let cp: TestControlPlane;

beforeEach(async () => {
  cp = await createTestControlPlane();
});

afterEach(async () => {
  await cp.settled();
  cp.close();
});

/** A clock `ms` ahead of the control plane's, as a signer whose clock is wrong would have. */
const ahead = (ms: number) => new ManualClock(cp.clock.now() + ms);

describe("token issue times", () => {
  for (const [label, ms] of Object.entries(AHEAD)) {
    it(`refuses an operator token issued ${label} ahead, and changes nothing`, async () => {
      const token = await recordOperatorToken(cp.store, cp.keys, ahead(ms), { subject: "early", roles: { "*": "admin" }, ttlMs: DAY, createdBy: "test" });
      const before = await snapshotCounts(cp);
      const read = await expectProblem(await cp.call("GET", "/v1/namespaces", { token }), 401, "unauthorized");
      expect(read.detail).toMatch(/issued in the future/);
      await expectProblem(await cp.call("POST", "/v1/namespaces", { token, body: { name: "early" } }), 401, "unauthorized");
      expect(await snapshotCounts(cp)).toEqual(before);
    });

    it(`refuses a node credential issued ${label} ahead`, async () => {
      const credential = await issueNodeCredential(cp.keys, ahead(ms), "node-1", 1, DAY);
      const res = await cp.call("POST", "/v1/agent/heartbeat", { token: credential, body: { tasks: [] } });
      expect((await expectProblem(res, 401, "unauthorized")).detail).toMatch(/issued in the future/);
    });
  }

  it("accepts tokens issued within the leeway ahead (instances' clocks differ a little)", async () => {
    const within = ahead(ISSUED_AT_LEEWAY_MS - 5_000);
    const token = await recordOperatorToken(cp.store, cp.keys, within, { subject: "close", roles: { "*": "admin" }, ttlMs: DAY, createdBy: "test" });
    await expectJson(await cp.call("GET", "/v1/namespaces", { token }));
    const credential = await issueNodeCredential(cp.keys, within, "node-1", 1, DAY);
    const res = await cp.call("POST", "/v1/agent/heartbeat", { token: credential, body: { tasks: [] } });
    // Not a refusal of the credential's time (the node itself is unknown to this store).
    if (res.status === 401) expect((await res.json() as { detail: string }).detail).not.toMatch(/issued in the future/);
  });

  it("refuses a token issued just past the leeway", async () => {
    const token = await recordOperatorToken(cp.store, cp.keys, ahead(ISSUED_AT_LEEWAY_MS + 2_000), { subject: "late", roles: { "*": "admin" }, ttlMs: DAY, createdBy: "test" });
    await expectProblem(await cp.call("GET", "/v1/namespaces", { token }), 401, "unauthorized");
  });
});
