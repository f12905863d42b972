// Opens /docs in Chromium with every request off loopback blocked, and reports what the page did.
import type { Browser } from "playwright-core";

export interface DocsVisit {
  status: number | undefined;
  /** Requests the page attempted to anything but 127.0.0.1 (all aborted). */
  offLoopback: string[];
  /** Paths it loaded from loopback. */
  loopback: string[];
  /** Console errors, CSP violations and uncaught page errors. */
  problems: string[];
  /** Summaries of the operations Swagger UI rendered. */
  summaries: string[];
  /** Paths of the operations it rendered. */
  paths: string[];
}

/** Loads `${baseUrl}/docs`, waits until the operation with `waitFor` in its summary is on screen, and settles. */
export async function visitDocs(browser: Browser, baseUrl: string, waitFor: string): Promise<DocsVisit> {
  const page = await browser.newPage();
  try {
    const offLoopback: string[] = [];
    const loopback: string[] = [];
    await page.route("**/*", async (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === "127.0.0.1") {
        loopback.push(url.pathname);
        await route.continue();
      } else {
        offLoopback.push(url.href);
        await route.abort("blockedbyclient");
      }
    });
    const problems: string[] = [];
    page.on("console", (msg) => {
      if (msg.type() === "error" || /content security policy/i.test(msg.text())) problems.push(`console ${msg.type()}: ${msg.text()}`);
    });
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    // Chromium raises an event for every violation, whether or not it also logs one.
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));
    });

    const res = await page.goto(`${baseUrl}/docs`, { waitUntil: "load" });
    let summaries: string[] = [];
    let paths: string[] = [];
    try {
      await page.locator(".opblock-summary-description", { hasText: waitFor }).first().waitFor({ state: "visible", timeout: 30_000 });
      await page.waitForLoadState("networkidle");
      summaries = await page.locator(".opblock-summary-description").allTextContents();
      paths = await page.locator(".opblock-summary-path").allTextContents();
    } catch (err) {
      problems.push(`no operation "${waitFor}" rendered: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
    }
    return { status: res?.status(), offLoopback, loopback, problems, summaries, paths };
  } finally {
    await page.close();
  }
}
