// Browser test helpers: Debian's Chromium driven by playwright-core, installed on demand, never skipped.
import { execFileSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";

/** Debian's package puts it here; LEASEHOLD_CHROMIUM points elsewhere. */
export const CHROMIUM = process.env["LEASEHOLD_CHROMIUM"] || "/usr/bin/chromium";

const ENSURE_SCRIPT = fileURLToPath(new URL("../../scripts/ensure-chromium.sh", import.meta.url));

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The browser's path; installs it with scripts/ensure-chromium.sh when missing, or throws saying how to get one. */
export function requireChromium(): string {
  if (executable(CHROMIUM)) return CHROMIUM;
  try {
    execFileSync("bash", [ENSURE_SCRIPT], { stdio: ["ignore", "inherit", "inherit"], timeout: 600_000 });
  } catch (cause) {
    throw new Error(`no Chromium at ${CHROMIUM} and scripts/ensure-chromium.sh could not install one (needs Debian and root); install chromium or set LEASEHOLD_CHROMIUM`, { cause });
  }
  if (!executable(CHROMIUM)) throw new Error(`scripts/ensure-chromium.sh ran but ${CHROMIUM} is still missing`);
  return CHROMIUM;
}

/** Headless Chromium with no background networking of its own: the only requests are the page's. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: requireChromium(), headless: true, args: ["--no-sandbox", "--disable-background-networking"] });
}
