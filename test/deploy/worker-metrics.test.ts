// The bundled Worker's /metrics: built by `wrangler deploy --dry-run`, run in Miniflare's workerd against a
// libSQL database served over Hrana, scraped with the LEASEHOLD_METRICS_TOKEN binding, and its text checked
// by `promtool check metrics` here in Node (promtool cannot run inside workerd). The bundle carries no
// prom-client.
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createClient } from "@libsql/client";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, expect, it } from "vitest";
import { migrateDatabase } from "../../db/migrate";
import { generateSigningKey } from "../../worker/auth/keys";
import { startHranaServer, type HranaServer } from "../hrana/server";

const SCRAPE_TOKEN = "bundle-scrape-token-0123456789abcdefghijkl";

let out: string;
let bundle: string;
let hrana: HranaServer;

beforeAll(async () => {
  try {
    execFileSync("bash", ["scripts/ensure-promtool.sh"], { stdio: ["ignore", "ignore", "pipe"], timeout: 240_000 });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`promtool is needed to check the Worker's metrics and could not be made available: ${stderr || (err as Error).message}`, { cause: err });
  }
  out = mkdtempSync(join(tmpdir(), "leasehold-worker-metrics-"));
  await promisify(execFile)(join("node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", join(out, "bundle")], {
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
    timeout: 120_000,
  });
  const file = readdirSync(join(out, "bundle")).find((f) => f.endsWith(".js"));
  if (!file) throw new Error(`wrangler wrote no .js file to ${out}`);
  bundle = join(out, "bundle", file);
  hrana = await startHranaServer({ path: join(out, "worker.db") });
  const client = createClient({ url: hrana.url });
  await migrateDatabase(client);
  client.close();
}, 300_000);

afterAll(async () => {
  await hrana?.close();
  rmSync(out, { recursive: true, force: true });
});

it("the bundled Worker serves /metrics that promtool accepts, and carries no prom-client", async () => {
  expect(readFileSync(bundle, "utf8")).not.toMatch(/prom-client|collectDefaultMetrics/);
  const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(readFileSync("wrangler.toml", "utf8"))?.[1];
  expect(compatibilityDate).toBeDefined();
  const { privateJwk } = await generateSigningKey();
  const mf = new Miniflare({
    modules: true,
    scriptPath: bundle,
    modulesRoot: join(out, "bundle"),
    compatibilityDate: compatibilityDate!,
    compatibilityFlags: ["nodejs_compat"],
    bindings: { LIBSQL_URL: hrana.url, LEASEHOLD_SIGNING_KEY: JSON.stringify(privateJwk), LEASEHOLD_METRICS_TOKEN: SCRAPE_TOKEN },
  });
  try {
    expect((await mf.dispatchFetch("https://leasehold.test/healthz")).status).toBe(200);
    expect((await mf.dispatchFetch("https://leasehold.test/v1/nowhere")).status).toBe(401);
    const refused = await mf.dispatchFetch("https://leasehold.test/metrics");
    expect(refused.status).toBe(401);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    await refused.text();

    const res = await mf.dispatchFetch("https://leasehold.test/metrics", { headers: { authorization: `Bearer ${SCRAPE_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    expect(text).toContain('leasehold_http_requests_total{route="/healthz",method="GET",status="200"} 1\n');
    expect(text).toContain('leasehold_http_requests_total{route="/metrics",method="GET",status="401"} 1\n');
    expect(text).toContain('leasehold_nodes{state="ready"} 0\n');
    expect(text).toMatch(/^leasehold_store_duration_seconds_count\{op="execute"\} [1-9]/m);
    const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(check.error).toBeUndefined();
    expect(check.status, `promtool check metrics: ${check.stdout}${check.stderr}`).toBe(0);
  } finally {
    await mf.dispose();
  }
}, 120_000);
