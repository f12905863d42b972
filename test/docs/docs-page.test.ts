// /docs in a real browser with no network beyond loopback, served by the Node entry: Swagger UI must come
// from the control plane itself, render the API's operations, and run under the page's policy.
// (The Worker bundle gets the same visit in test/deploy/bundle.test.ts.)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parseConfig } from "../../worker/config";
import { startNodeServer, type NodeServer } from "../../worker/node";
import { launchChromium } from "../support/chromium";
import { visitDocs } from "./browser";

let dir: string;
let server: NodeServer;
let browser: Browser;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-docs-"));
  server = await startNodeServer({ dataDir: join(dir, "data"), port: 0, sweep: false, config: parseConfig({}), log: () => {} });
  browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

it("renders the API's operations from loopback alone, with no CSP violation", async () => {
  const visit = await visitDocs(browser, server.url, "Apply a job spec");
  expect(visit.status).toBe(200);
  expect(visit.offLoopback).toEqual([]);
  expect(visit.problems).toEqual([]);
  expect(visit.loopback).toContain("/openapi.json");
  expect(visit.summaries).toEqual(expect.arrayContaining([expect.stringContaining("Apply a job spec"), "List the namespaces the token can see"]));
  expect(visit.paths).toContain("/v1/jobs");
}, 120_000);
