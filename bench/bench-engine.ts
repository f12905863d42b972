// A Docker engine of the benchmark's own, for the side-by-side with Docker Swarm: a second dockerd in swarm
// mode on loopback, holding the test image, so that neither the swarm nor the benchmark's containers touch
// the default engine the test suites use.
//
// Invariants: the engine shares nothing with a default one — its data root, exec root, pid file, socket,
// daemon.json, containerd (its own, under its own namespaces), bridge interfaces and subnets are its own, and
// it never writes iptables rules or host forwarding settings. Its teardown runs on success, on failure and on
// an early exit, and leaves no process, mount, interface or file of it behind.
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Dockerode from "dockerode";
import { TEST_IMAGE } from "./ceilings";
import { benchScript, onEarlyExit } from "./processes";
import { sleep } from "./stats";

const run = promisify(execFile);

export interface BenchEngine {
  /** DOCKER_HOST for this engine's clients (unix://…). */
  host: string;
  docker: Dockerode;
  /** The engine's version, for the results. */
  version: string;
  /** Runs the docker CLI against this engine; resolves with its trimmed stdout. */
  cli(args: string[], timeoutMs?: number): Promise<string>;
  /** Removes every service and container, leaves the swarm, stops dockerd and removes all of its state. */
  close(): Promise<void>;
}

/** Whether this machine can start a second engine (root, dockerd, docker and ip), and if not, why. */
export function benchEngineAvailable(): { ok: true } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: "starting a second dockerd needs root" };
  for (const tool of ["dockerd", "docker", "ip"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      return { ok: false, reason: `${tool} is not installed (bash scripts/ensure-docker.sh installs docker.io)` };
    }
  }
  return { ok: true };
}

interface Layout {
  dir: string;
  socket: string;
  execRoot: string;
  bridge: string;
  gwBridge: string;
  /** Third octet of the bridge's 10.213.x.0/24; the swarm's gateway bridge takes the next one. */
  octet: number;
  /** The cgroup under which the engine puts its containers' cgroups. */
  cgroupParent: string;
}

/** Short paths (a unix socket path must fit in 108 bytes) and interface names of at most 15 characters. */
function layout(): Layout {
  const base = tmpdir().length <= 40 ? tmpdir() : "/tmp";
  const dir = mkdtempSync(join(base, "lhb-"));
  const tag = (process.pid % 1_679_616).toString(36);
  return { dir, socket: join(dir, "docker.sock"), execRoot: join(dir, "exec"), bridge: `lhb${tag}`, gwBridge: `lhb${tag}g`, octet: freeOctet(), cgroupParent: `/lhb-${tag}` };
}

/** An even octet x such that neither 10.213.x.0/24 nor 10.213.(x+1).0/24 is routed on this host. */
function freeOctet(): number {
  const routes = execFileSync("ip", ["-o", "-4", "route", "show", "table", "all"], { encoding: "utf8" });
  const start = (process.pid % 125) * 2;
  for (let i = 0; i < 125; i++) {
    const x = (start + i * 2) % 250;
    if (!routes.includes(`10.213.${x}.`) && !routes.includes(`10.213.${x + 1}.`)) return x;
  }
  throw new Error("no free 10.213.x.0/24 pair for the bench engine's bridges");
}

async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === "string") throw new Error("no TCP port");
  return address.port;
}

/** A free UDP port for the swarm's VXLAN data path: Swarm takes one in 1024–49151, below the ephemeral range. */
async function freeDataPathPort(): Promise<number> {
  const start = 4790 + (process.pid % 500);
  for (let i = 0; i < 500; i++) {
    const port = 4790 + ((start - 4790 + i) % 500);
    const socket = createSocket("udp4");
    const bound = await new Promise<boolean>((done) => {
      socket.once("error", () => done(false));
      socket.bind(port, () => done(true));
    });
    await new Promise<void>((done) => socket.close(() => done()));
    if (bound) return port;
  }
  throw new Error("no free UDP port in 4790–5289 for the swarm's data path");
}

function dockerdArgs(l: Layout): string[] {
  return [
    "-H", `unix://${l.socket}`,
    "--data-root", join(l.dir, "data"),
    "--exec-root", l.execRoot,
    "--pidfile", join(l.dir, "docker.pid"),
    "--config-file", join(l.dir, "daemon.json"),
    // Its own containerd (started by this dockerd under the exec root) in namespaces of its own, in case the
    // host's containerd is the one it finds.
    "--containerd-namespace", "leasehold-bench",
    "--containerd-plugins-namespace", "leasehold-bench-plugins",
    "--bridge", l.bridge,
    "--default-address-pool", "base=10.215.0.0/16,size=24",
    // The default engine owns the host's DOCKER chains and forwarding; this one leaves them alone (the
    // benchmark publishes no port and needs no way out).
    "--iptables=false",
    "--ip-forward=false",
    "--ip-masq=false",
    "--userland-proxy=false",
    "--cgroup-parent", l.cgroupParent,
  ];
}

export async function startBenchEngine(log: (line: string) => void): Promise<BenchEngine> {
  const l = layout();
  const logFile = join(l.dir, "dockerd.log");
  let dockerd: ChildProcess | null = null;
  const teardown = (): string[] => teardownEngine(l, dockerd);
  const forget = onEarlyExit(() => void teardown());
  const host = `unix://${l.socket}`;
  const cli = async (args: string[], timeoutMs = 60_000): Promise<string> => {
    const { stdout } = await run("docker", args, { env: { ...process.env, DOCKER_HOST: host }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return stdout.trim();
  };
  try {
    writeFileSync(join(l.dir, "daemon.json"), "{}\n");
    execFileSync("ip", ["link", "add", "name", l.bridge, "type", "bridge"]);
    execFileSync("ip", ["addr", "add", `10.213.${l.octet}.1/24`, "dev", l.bridge]);
    execFileSync("ip", ["link", "set", l.bridge, "up"]);
    const out = openSync(logFile, "a");
    dockerd = spawn("dockerd", dockerdArgs(l), { stdio: ["ignore", out, out] });
    closeSync(out);
    const docker = new Dockerode({ socketPath: l.socket });
    await waitForEngine(docker, dockerd);
    // Swarm's gateway bridge, made before `swarm init` would make one named docker_gwbridge like the default engine's.
    await cli(["network", "create", "--driver", "bridge", "--subnet", `10.213.${l.octet + 1}.0/24`,
      "--opt", `com.docker.network.bridge.name=${l.gwBridge}`,
      "--opt", "com.docker.network.bridge.enable_ip_masquerade=false",
      "--opt", "com.docker.network.bridge.enable_icc=false", "docker_gwbridge"]);
    await cli(["swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", `127.0.0.1:${await freeTcpPort()}`,
      "--data-path-port", String(await freeDataPathPort()), "--default-addr-pool", "10.214.0.0/16"]);
    // The same script that builds the test image for the suites: `docker import` of a static busybox.
    await run("bash", [benchScript("../scripts/ensure-docker.sh")], { env: { ...process.env, DOCKER_HOST: host, LEASEHOLD_TEST_IMAGE: TEST_IMAGE }, timeout: 300_000 });
    const version = await cli(["version", "--format", "{{.Server.Version}}"]);
    log(`  bench engine: dockerd ${version} on ${host}, swarm on 127.0.0.1, bridges ${l.bridge} and ${l.gwBridge} (10.213.${l.octet}.0/23)`);
    return {
      host,
      docker,
      version,
      cli,
      async close() {
        const problems = teardown();
        forget();
        if (problems.length > 0) log(`  bench engine teardown: ${problems.join("; ")}`);
      },
    };
  } catch (err) {
    const tail = existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n") : "";
    teardown();
    forget();
    throw new Error(`could not start the bench engine: ${err instanceof Error ? err.message : String(err)}${tail ? `\ndockerd log:\n${tail}` : ""}`, { cause: err });
  }
}

async function waitForEngine(docker: Dockerode, dockerd: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (dockerd.exitCode !== null || dockerd.signalCode !== null) throw new Error(`dockerd exited (${dockerd.exitCode ?? dockerd.signalCode})`);
    try {
      await docker.ping();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error("dockerd did not answer within 60 s");
      await sleep(200);
    }
  }
}

/**
 * Synchronous, so that the early-exit hook runs the same steps as a normal close. Each step is attempted
 * whatever the ones before it did; what failed is returned.
 */
function teardownEngine(l: Layout, dockerd: ChildProcess | null): string[] {
  const problems: string[] = [];
  const step = (what: string, work: () => void): void => {
    try {
      work();
    } catch (err) {
      problems.push(`${what}: ${err instanceof Error ? (err.message.split("\n")[0] ?? err.message) : String(err)}`);
    }
  };
  const docker = (args: string[], timeout = 60_000): string =>
    execFileSync("docker", args, { env: { ...process.env, DOCKER_HOST: `unix://${l.socket}` }, encoding: "utf8", timeout, stdio: ["ignore", "pipe", "pipe"] }).trim();
  const answers = (): boolean => {
    try {
      docker(["version", "--format", "{{.Server.Version}}"], 5_000);
      return true;
    } catch {
      return false;
    }
  };
  // An engine already going down (an interrupt reaches the whole process group) is not asked to clean up.
  if (dockerd?.pid !== undefined && isAlive(dockerd.pid) && answers()) {
    step("removing services", () => {
      const services = docker(["service", "ls", "-q"]).split("\n").filter(Boolean);
      if (services.length > 0) docker(["service", "rm", ...services]);
    });
    step("removing containers", () => {
      const ids = docker(["ps", "-aq"]).split("\n").filter(Boolean);
      if (ids.length > 0) docker(["rm", "-f", ...ids]);
    });
    step("leaving the swarm", () => void docker(["swarm", "leave", "--force"]));
  }
  if (dockerd?.pid !== undefined) step("stopping dockerd", () => stopProcess(dockerd.pid as number, 30_000));
  // Started by that dockerd; it stops it on a clean exit, not after a SIGKILL.
  step("stopping its containerd", () => {
    const pidFile = join(l.execRoot, "containerd", "containerd.pid");
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    // Only if that pid is still this engine's containerd (its command line names our exec root).
    const cmdline = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, "utf8") : "";
    if (cmdline.includes(l.execRoot)) stopProcess(pid, 10_000);
  });
  step("unmounting", () => {
    const mounts = readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((line) => line.split(" ")[1] ?? "")
      .filter((point) => point.startsWith(l.dir + "/"))
      .sort((a, b) => b.length - a.length);
    for (const point of mounts) execFileSync("umount", ["-l", point]);
  });
  for (const link of [l.gwBridge, l.bridge]) {
    step(`removing interface ${link}`, () => {
      if (existsSync(`/sys/class/net/${link}`)) execFileSync("ip", ["link", "del", link]);
    });
  }
  // runc removes each container's cgroup; the parent it made under every hierarchy is left, empty.
  step("removing its cgroups", () => {
    const roots = ["/sys/fs/cgroup", ...readdirSync("/sys/fs/cgroup").map((c) => join("/sys/fs/cgroup", c))];
    for (const root of roots) if (existsSync(join(root, l.cgroupParent))) rmdirSync(join(root, l.cgroupParent));
  });
  step("removing its state", () => rmSync(l.dir, { recursive: true, force: true }));
  return problems;
}

/** SIGTERM to one process by its pid, SIGKILL after `graceMs`; waits (blocking) until it is gone. */
function stopProcess(pid: number, graceMs: number): void {
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) blockFor(100);
  if (!isAlive(pid)) return;
  process.kill(pid, "SIGKILL");
  const killDeadline = Date.now() + 5_000;
  while (isAlive(pid) && Date.now() < killDeadline) blockFor(100);
  if (isAlive(pid)) throw new Error(`process ${pid} still runs after SIGKILL`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A child that exited but was not reaped yet is a zombie: gone for our purposes.
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
