// The dashboard in a real browser against a real control plane and a real agent on Docker: sign in with a
// token (a wrong one is refused), see a job the CLI applied, scale it from the page and watch the new
// replicas turn healthy without a reload, follow its logs to a line the container printed, see the fleet's
// events arrive, read secret metadata and the audit trail (and be told an admin is needed), drain the node.
// Every view is saved as a screenshot under test/artifacts/web; LEASEHOLD_UPDATE_SCREENSHOTS=1 also
// writes them to docs/screenshots for the README.
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ensureWebBuild } from "../../scripts/web-build";
import { launchChromium } from "../support/chromium";
import { TestCluster } from "../support/cluster";
import { requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";
import { lowContrast, unlabelledControls } from "./page-checks";

const ARTIFACTS = fileURLToPath(new URL("../artifacts/web", import.meta.url));
const SCREENSHOTS = fileURLToPath(new URL("../../docs/screenshots", import.meta.url));
/** Generous: the machine running this may be loaded. */
const SOON = 60_000;

const cluster = new TestCluster();
const node = uniqueNode("web-ui");
let browser: Browser;
let page: Page;
const offOrigin: string[] = [];
const pageErrors: string[] = [];
const secretValueReads: string[] = [];
/** Answers other than 2xx/3xx the page got, as "status path". */
const refusals: string[] = [];

beforeAll(async () => {
  await requireDocker();
  await ensureWebBuild((line) => console.log(line));
  browser = await launchChromium();
  await cluster.start({ heartbeatInterval: "1s", leaseTtl: "3s", sweepInterval: "500ms", streamPollInterval: "200ms" });
  // Samples every second, so the tasks table has them soon after the tasks start.
  await cluster.spawnAgent(node, { args: ["--stats-interval", "1s"] });
  const file = join(cluster.dir, "web.yaml");
  const spec = (greeting: string) =>
    [
      "name: web",
      "replicas: 1",
      `image: ${TEST_IMAGE}`,
      'command: ["sh", "-c", "echo hello from slot $LEASEHOLD_SLOT; exec httpd -f -p 8080 -h /www"]',
      `env: { GREETING: ${greeting} }`,
      "resources: { cpu: 100, memory: 32 }",
      "ports: [{ name: http, container: 8080 }]",
      "health: { type: http, port: http, interval: 500ms, timeout: 500ms, failures: 2 }",
      "update: { minHealthy: 1s }",
      "stopGrace: 500ms",
    ].join("\n");
  // Two versions, so the versions tab has a diff to show.
  for (const greeting of ["hello", "bonjour"]) {
    writeFileSync(file, spec(greeting));
    const applied = await cluster.cli("apply", file, "--wait", "--timeout", "60s");
    expect(applied.code, applied.stderr + applied.stdout).toBe(0);
  }
  await cluster.api("PUT", "/v1/namespaces/default/secrets/db-password", { value: "s3cret-value-never-shown" });

  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const origin = new URL(cluster.url).origin;
  page.on("request", (r) => {
    if (!r.url().startsWith("data:") && new URL(r.url()).origin !== origin) offOrigin.push(r.url());
    if (/\/secrets\/[^/]+\/value/.test(r.url())) secretValueReads.push(r.url());
  });
  page.on("response", (r) => {
    if (r.status() >= 400) refusals.push(`${r.status()} ${new URL(r.url()).pathname}`);
  });
  page.on("pageerror", (e) => pageErrors.push(e.message));
  // Chromium raises an event for every policy violation, whether or not it also logs one.
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));
  });
  // Chromium logs each refused request too; those are checked through their answers.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) pageErrors.push(m.text());
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await cluster.stop();
}, 60_000);

/** `inReadme`: one of the views the README shows (the others are test artifacts only). */
async function snapshot(name: string, inReadme = true): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  if (inReadme && process.env["LEASEHOLD_UPDATE_SCREENSHOTS"] === "1") {
    mkdirSync(SCREENSHOTS, { recursive: true });
    copyFileSync(path, join(SCREENSHOTS, `${name}.png`));
  }
}

/** A link of the top navigation (the job page has its own Events link). */
const nav = (name: string) => page.getByRole("navigation", { name: "Views" }).getByRole("link", { name, exact: true });

/** What every view must hold to: readable text and named controls. */
async function checkView(view: string): Promise<void> {
  expect(await lowContrast(page), `${view}: text under 4.5:1`).toEqual([]);
  expect(await unlabelledControls(page), `${view}: controls without a name`).toEqual([]);
}

it("drives the fleet from the dashboard: sign-in, jobs, a live scale, logs, events, secrets, audit, drain", async () => {
  // Sign-in: a token that is not one is refused in words; the real one is accepted.
  await page.goto(`${cluster.url}/ui/`);
  await page.getByRole("heading", { name: "Sign in to leasehold" }).waitFor();
  await checkView("sign-in");
  await snapshot("sign-in");
  await page.getByLabel("Operator token").fill("not-a-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect.poll(() => page.getByRole("alert").textContent(), { timeout: SOON }).toContain("refused this token");
  await page.getByLabel("Operator token").fill(cluster.token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Jobs" }).waitFor();
  expect(await page.locator(".who").textContent()).toContain("Signed in as bootstrap-admin (admin on every namespace)");
  expect(await page.evaluate(() => sessionStorage.length)).toBe(1);
  expect(await page.evaluate(() => localStorage.length)).toBe(0);

  // The job the CLI applied, at version 2, its one replica running and healthy.
  const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: "web", exact: true }) });
  await expect.poll(() => row.textContent(), { timeout: SOON }).toMatch(/running.*2.*1 \/ 1.*1 \/ 1/);
  await checkView("jobs");
  await snapshot("jobs");

  // Scale from the page; the new replicas turn healthy with no reload (the marker survives).
  await page.getByRole("link", { name: "web", exact: true }).click();
  await page.getByRole("heading", { name: "web" }).waitFor();
  await expect.poll(() => page.getByTestId("healthy").textContent(), { timeout: SOON }).toBe("1 / 1");
  await page.evaluate(() => Object.assign(window, { notReloaded: true }));
  await page.getByLabel("Replicas").fill("3");
  await page.getByLabel("Replicas").press("Enter");
  await expect.poll(() => page.locator(".outcome").textContent(), { timeout: SOON }).toContain("Scaled from 1 to 3 replicas");
  await expect.poll(() => page.getByTestId("healthy").textContent(), { timeout: SOON }).toBe("3 / 3");
  expect(await page.evaluate(() => (window as { notReloaded?: boolean }).notReloaded)).toBe(true);
  const { tasks } = await cluster.job("web");
  expect(tasks.filter((t) => t.desired === "run" && t.state === "running" && t.health === "healthy")).toHaveLength(3);
  await expect.poll(() => page.getByRole("table", { name: "Tasks" }).getByText("healthy", { exact: true }).count(), { timeout: SOON }).toBe(3);
  await expect.poll(() => page.locator(".live-status").textContent(), { timeout: SOON }).toContain("live");
  await checkView("job");

  // Versions with the field that changed.
  await page.getByRole("link", { name: "Versions" }).click();
  await expect.poll(() => page.locator("article.version").first().textContent(), { timeout: SOON }).toContain("env.GREETING");
  expect(await page.locator("article.version").first().textContent()).toMatch(/hello.*bonjour/);
  await checkView("job versions");
  await snapshot("job-versions", false);

  // Logs: a line each container printed at start reaches the page.
  await page.getByRole("link", { name: "Logs" }).click();
  await expect.poll(() => page.getByRole("log").textContent(), { timeout: SOON }).toContain("hello from slot 0");
  await checkView("job logs");
  await snapshot("job-logs", false);

  // Events: the fleet's, live: a job applied now shows up without a reload.
  await nav("Events").click();
  await page.getByRole("heading", { name: "Events" }).waitFor();
  await expect.poll(() => page.locator(".live-status").textContent(), { timeout: SOON }).toContain("live");
  await expect.poll(() => page.getByRole("table", { name: "Events" }).textContent(), { timeout: SOON }).toContain("job.scale");
  await cluster.api("POST", "/v1/jobs", { name: "once", type: "batch", image: TEST_IMAGE, command: ["sh", "-c", "echo batch done"], resources: { cpu: 50, memory: 16 } });
  await expect.poll(() => page.getByRole("row").filter({ hasText: "once" }).count(), { timeout: SOON }).toBeGreaterThan(0);
  await checkView("events");
  await snapshot("events");

  // Secrets: metadata and versions, never the value.
  await nav("Secrets").click();
  await expect.poll(() => page.getByRole("table", { name: "Secrets" }).textContent(), { timeout: SOON }).toContain("db-password");
  await page.getByRole("button", { name: "Show the versions of db-password" }).click();
  await expect.poll(() => page.getByRole("table", { name: "Versions of db-password" }).textContent(), { timeout: SOON }).toContain("bootstrap-admin");
  expect(await page.content()).not.toContain("s3cret-value-never-shown");
  await checkView("secrets");
  await snapshot("secrets");

  // Audit: the scale done from the page, by the signed-in token.
  await nav("Audit").click();
  await expect.poll(() => page.getByRole("table", { name: "Audit entries" }).textContent(), { timeout: SOON }).toContain("job.scale");
  await checkView("audit");
  await snapshot("audit");

  // Back on the job (no reload): the agents' resource samples have reached the tasks table by now.
  await nav("Jobs").click();
  await page.getByRole("link", { name: "web", exact: true }).click();
  const cpu = page.getByRole("table", { name: "Tasks" }).getByText(/^\d+\.\d%$/);
  await expect.poll(() => cpu.count(), { timeout: SOON }).toBeGreaterThan(0);
  await snapshot("job");
  expect(await page.evaluate(() => (window as { notReloaded?: boolean }).notReloaded)).toBe(true);

  // Nodes: drain from the page, confirmed in the dialog by keyboard (focus starts on Cancel).
  await nav("Nodes").click();
  const nodeRow = page.getByRole("row").filter({ hasText: node });
  await expect.poll(() => nodeRow.textContent(), { timeout: SOON }).toContain("ready");
  expect(await nodeRow.getByRole("meter").count()).toBe(2);
  await checkView("nodes");
  await nodeRow.getByRole("button", { name: `Drain ${node}` }).click();
  await page.getByRole("dialog").waitFor();
  expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Cancel");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await expect.poll(() => nodeRow.textContent(), { timeout: SOON }).toContain("draining");
  expect((await cluster.api<{ node: { drainDeadline: number | null } }>("GET", `/v1/nodes/${node}`)).node.drainDeadline).not.toBeNull();
  await snapshot("nodes");

  // Signing out forgets the token; a viewer's token is told the audit trail needs an admin.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in to leasehold" }).waitFor();
  expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  const { token: viewer } = await cluster.api<{ token: string }>("POST", "/v1/tokens", { subject: "watcher", roles: { default: "viewer" } });
  await page.getByLabel("Operator token").fill(viewer);
  await page.getByRole("button", { name: "Sign in" }).click();
  await nav("Audit").click();
  await expect.poll(() => page.getByRole("status").filter({ hasText: "needs an admin token" }).count(), { timeout: SOON }).toBe(1);

  expect(offOrigin).toEqual([]);
  expect(secretValueReads).toEqual([]);
  expect(pageErrors).toEqual([]);
  // Refused: the wrong token, and the viewer's audit read. A control plane without the log follow stream
  // answers 404 for it, and the page falls back to the queued tail.
  expect(refusals.filter((r) => !r.endsWith("/v1/namespaces/default/jobs/web/logs/follow"))).toEqual(["401 /v1/namespaces", "403 /v1/audit"]);
}, 240_000);
