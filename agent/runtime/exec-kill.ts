// Killing an exec that ran past its timeout. The Engine API cannot signal an exec, so its process is found
// by the host pid the engine reports and killed with everything it started (read from /proc), which needs
// the agent on the engine's host with the right to signal it (root, as agents usually run). Failing that,
// the process is killed from inside the container by its pid there (NSpid in /proc/<pid>/status); with
// neither (a remote engine), it runs on and the caller is told.
//
// A pid is only ever signalled when this host's /proc puts it in the container's cgroup: with a remote
// engine the reported pid names some unrelated local process, or none.
import { readdirSync, readFileSync } from "node:fs";

/** The host pids of `pid`'s descendants, children first found first (a snapshot: a fork meanwhile is missed). */
export function descendants(pid: number, procDir = "/proc"): number[] {
  const children = new Map<number, number[]>();
  let names: string[] = [];
  try {
    names = readdirSync(procDir);
  } catch {
    return [];
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The command name is in parentheses and may hold spaces: the fields after its last ")" are fixed.
      const stat = readFileSync(`${procDir}/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // Gone since the directory was read.
    }
  }
  const out: number[] = [];
  for (let queue = [pid]; queue.length > 0; ) {
    const next = queue.shift()!;
    for (const child of children.get(next) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** The pid of a host process inside its own pid namespace (the last NSpid entry), if this host can read it. */
export function namespacePid(pid: number, procDir = "/proc"): number | undefined {
  try {
    const line = readFileSync(`${procDir}/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("NSpid:"));
    const last = line?.trim().split(/\s+/).at(-1);
    return last !== undefined && /^\d+$/.test(last) ? Number(last) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether this host sees `pid` as a process of the container (its cgroup path names the container id). */
export function inContainer(pid: number, containerId: string, procDir = "/proc"): boolean {
  try {
    return readFileSync(`${procDir}/${pid}/cgroup`, "utf8").includes(containerId);
  } catch {
    return false;
  }
}

/** SIGKILL to a container's host process and its descendants; whether the process itself was signalled. */
export function killTree(pid: number, containerId: string, procDir = "/proc"): boolean {
  if (!inContainer(pid, containerId, procDir)) return false;
  const tree = descendants(pid, procDir).filter((p) => inContainer(p, containerId, procDir));
  let killed = false;
  for (const p of [pid, ...tree]) {
    try {
      process.kill(p, "SIGKILL");
      if (p === pid) killed = true;
    } catch {
      // Not ours to signal, or gone.
    }
  }
  return killed;
}
