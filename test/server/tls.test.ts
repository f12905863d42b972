// TLS on the Node server: half a TLS configuration refuses to start (rather than serving plain HTTP), and
// HSTS is sent over TLS only. The certificate is a throwaway one made by openssl for 127.0.0.1.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../worker/config";
import { startNodeServer } from "../../worker/node";

let dir: string;
let cert: string;
let key: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "leasehold-tls-"));
  cert = join(dir, "cert.pem");
  key = join(dir, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `npm run start:control-plane` with this environment: how it ends, within a bound. */
function runEntry(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "worker/node.ts"], { env: { ...process.env, PORT: "0", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
      // Started anyway: stop it, and let the assertions say what it did.
      if (stdout.includes("listening")) child.kill("SIGKILL");
    });
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function httpsGet(url: string, ca: Buffer): Promise<{ status: number; hsts: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL("/healthz", url), { ca }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, hsts: res.headers["strict-transport-security"] }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("TLS configuration", () => {
  it("refuses to start with a certificate but no key, or a key but no certificate, and creates nothing", async () => {
    const halves: { env: Record<string, string>; message: string }[] = [
      { env: { LEASEHOLD_TLS_CERT: cert }, message: "LEASEHOLD_TLS_CERT is set but LEASEHOLD_TLS_KEY is not" },
      { env: { LEASEHOLD_TLS_KEY: key }, message: "LEASEHOLD_TLS_KEY is set but LEASEHOLD_TLS_CERT is not" },
    ];
    for (const [i, half] of halves.entries()) {
      const dataDir = join(dir, `half-${i}`);
      const r = await runEntry({ ...half.env, LEASEHOLD_DATA_DIR: dataDir });
      expect(r.stdout).not.toContain("listening");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`leasehold: ${half.message}: set both to serve HTTPS, or neither to serve plain HTTP`);
      expect(existsSync(dataDir)).toBe(false);
    }
  }, 60_000);

  it("sends Strict-Transport-Security over TLS, and not over plain HTTP", async () => {
    const tlsServer = await startNodeServer({ dataDir: join(dir, "tls"), port: 0, sweep: false, config: parseConfig({}), tls: { cert, key }, log: () => {} });
    const plain = await startNodeServer({ dataDir: join(dir, "plain"), port: 0, sweep: false, config: parseConfig({}), log: () => {} });
    try {
      expect(tlsServer.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(await httpsGet(tlsServer.url, readFileSync(cert))).toEqual({ status: 200, hsts: "max-age=31536000" });
      const res = await fetch(`${plain.url}/healthz`);
      expect(res.status).toBe(200);
      expect(res.headers.get("strict-transport-security")).toBeNull();
    } finally {
      await tlsServer.close();
      await plain.close();
    }
  });

  it("refuses a key that does not belong to the certificate, before creating anything", async () => {
    const otherKey = join(dir, "other-key.pem");
    execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", otherKey], { stdio: "ignore" });
    const dataDir = join(dir, "mismatch");
    await expect(startNodeServer({ dataDir, port: 0, sweep: false, config: parseConfig({}), tls: { cert, key: otherKey }, log: () => {} })).rejects.toThrow(
      `the TLS certificate ${cert} and key ${otherKey} are not a usable pair`,
    );
    expect(existsSync(dataDir)).toBe(false);
  });
});
