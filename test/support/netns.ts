// A network namespace joined to the host by its own veth pair, so a test can cut one process off for real.
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Netns {
  /** The namespace's name, for `ip netns exec`. */
  name: string;
  hostIf: string;
  nsIf: string;
  /** The host end's address: bind what the namespace must reach here. */
  hostIp: string;
  nsIp: string;
  /** `argv` prefixed so that it runs inside the namespace. */
  wrap(argv: string[]): string[];
  /** Silently drops every packet between the two ends (a partition, not a refusal). */
  cut(): Promise<void>;
  /** Removes the drop rules; idempotent. */
  heal(): Promise<void>;
  readonly isCut: boolean;
  /** Deletes the namespace (and with it both veth ends); idempotent, never throws. */
  destroy(): Promise<void>;
}

async function ip(...args: string[]): Promise<string> {
  try {
    return (await run("ip", args)).stdout;
  } catch (error) {
    const stderr = typeof error === "object" && error !== null && "stderr" in error ? String(error.stderr).trim() : String(error);
    throw new Error(`ip ${args.join(" ")} failed: ${stderr}`, { cause: error });
  }
}

/** A /30 in 10.213.0.0/16 that no interface on the host uses yet. */
async function freeSubnet(): Promise<{ hostIp: string; nsIp: string }> {
  const used = await ip("-4", "-o", "addr", "show");
  for (let attempt = 0; attempt < 50; attempt++) {
    const third = Math.floor(Math.random() * 256);
    const base = Math.floor(Math.random() * 64) * 4;
    const hostIp = `10.213.${third}.${base + 1}`;
    const nsIp = `10.213.${third}.${base + 2}`;
    if (!used.includes(` ${hostIp}/`) && !used.includes(` ${nsIp}/`)) return { hostIp, nsIp };
  }
  throw new Error("no free /30 in 10.213.0.0/16");
}

/** Creates the namespace and veth pair; throws with the reason when this host does not allow it (needs root). */
export async function createNetns(tag: string): Promise<Netns> {
  const id = randomBytes(3).toString("hex");
  // Interface names are limited to 15 characters.
  const name = `lh-${tag}-${id}`;
  const hostIf = `lh${id}h`;
  const nsIf = `lh${id}n`;
  const { hostIp, nsIp } = await freeSubnet();
  let cut = false;
  const inNs = (...argv: string[]) => run("ip", ["netns", "exec", name, ...argv]);
  // Both directions, so neither new connections nor ones already open get through.
  const rules = [
    ["INPUT", "-s", hostIp, "-j", "DROP"],
    ["OUTPUT", "-d", hostIp, "-j", "DROP"],
  ];

  const netns: Netns = {
    name,
    hostIf,
    nsIf,
    hostIp,
    nsIp,
    wrap: (argv) => ["ip", "netns", "exec", name, ...argv],
    async cut() {
      for (const rule of rules) await inNs("iptables", "-w", "-I", ...rule);
      cut = true;
    },
    async heal() {
      for (const rule of rules) {
        // -C fails when the rule is absent: delete only what is there.
        const present = await inNs("iptables", "-w", "-C", ...rule).then(() => true, () => false);
        if (present) await inNs("iptables", "-w", "-D", ...rule);
      }
      cut = false;
    },
    get isCut() {
      return cut;
    },
    async destroy() {
      await run("ip", ["netns", "del", name]).catch(() => undefined);
      // Normally gone with the namespace; a half-built pair may have left the host end behind.
      await run("ip", ["link", "del", hostIf]).catch(() => undefined);
    },
  };

  try {
    await ip("netns", "add", name);
    await ip("link", "add", hostIf, "type", "veth", "peer", "name", nsIf);
    await ip("link", "set", nsIf, "netns", name);
    await ip("addr", "add", `${hostIp}/30`, "dev", hostIf);
    await ip("link", "set", hostIf, "up");
    await ip("netns", "exec", name, "ip", "addr", "add", `${nsIp}/30`, "dev", nsIf);
    await ip("netns", "exec", name, "ip", "link", "set", nsIf, "up");
    await ip("netns", "exec", name, "ip", "link", "set", "lo", "up");
    // Fail here, not mid-test, if iptables cannot run in the namespace.
    await inNs("iptables", "-w", "-S");
  } catch (error) {
    await netns.destroy();
    throw new Error(`cannot build network namespace ${name} (needs root, iproute2 and iptables): ${(error as Error).message}`, { cause: error });
  }
  // A vitest worker killed before afterAll would otherwise leave the namespace behind.
  process.once("exit", () => {
    try {
      execFileSync("ip", ["netns", "del", name], { stdio: "ignore" });
    } catch {
      // already gone
    }
  });
  return netns;
}
