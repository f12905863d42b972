// The fleet's free capacity during one evaluation: usage is counted once up front, then adjusted as the plan stops,
// moves and places tasks, so no placement ever rescans the task list.
//
// Invariants:
// - free[i] = capacity of node i − resources of every task live on node i once the plan so far is applied
//   (existing tasks that are not lost or stopped, plus every placement made earlier in this plan).
// - A static host port is held on a node while any live task there holds it (counted, not a set, so that
//   releasing one holder of a port the input already double-booked does not free it for a third).
// - `generation` rises whenever capacity is given back after placement has begun; a cached "nothing fits"
//   is only trusted within one generation.
import { CPU, MEMORY, portReason } from "./reasons";
import type { NodeView, Resources } from "./types";

/** What one placement needs from a node. */
export interface Ask {
  resources: Resources;
  hostPorts: readonly number[];
}

export class Fleet {
  readonly nodes: readonly NodeView[];
  readonly indexById = new Map<string, number>();
  readonly capCpu: Float64Array;
  readonly capMemory: Float64Array;
  readonly freeCpu: Float64Array;
  readonly freeMemory: Float64Array;
  private readonly ports: (Map<number, number> | undefined)[];
  generation = 0;

  constructor(nodes: readonly NodeView[]) {
    this.nodes = nodes;
    const n = nodes.length;
    this.capCpu = new Float64Array(n);
    this.capMemory = new Float64Array(n);
    this.freeCpu = new Float64Array(n);
    this.freeMemory = new Float64Array(n);
    this.ports = new Array<Map<number, number> | undefined>(n);
    for (let i = 0; i < n; i++) {
      const node = nodes[i] as NodeView;
      // First row wins if the input repeats a node id; the repeat is never addressed by id.
      if (!this.indexById.has(node.id)) this.indexById.set(node.id, i);
      this.capCpu[i] = this.freeCpu[i] = node.capacity.cpu;
      this.capMemory[i] = this.freeMemory[i] = node.capacity.memory;
    }
  }

  reserve(i: number, ask: Ask): void {
    this.freeCpu[i] = (this.freeCpu[i] as number) - ask.resources.cpu;
    this.freeMemory[i] = (this.freeMemory[i] as number) - ask.resources.memory;
    if (ask.hostPorts.length === 0) return;
    let held = this.ports[i];
    if (held === undefined) this.ports[i] = held = new Map();
    for (const p of ask.hostPorts) held.set(p, (held.get(p) ?? 0) + 1);
  }

  release(i: number, ask: Ask): void {
    this.freeCpu[i] = (this.freeCpu[i] as number) + ask.resources.cpu;
    this.freeMemory[i] = (this.freeMemory[i] as number) + ask.resources.memory;
    const held = this.ports[i];
    if (held === undefined) return;
    for (const p of ask.hostPorts) {
      const n = (held.get(p) ?? 0) - 1;
      if (n > 0) held.set(p, n);
      else held.delete(p);
    }
  }

  /** Null when the ask fits node i right now, else the first resource it is short of. */
  shortOf(i: number, ask: Ask): string | null {
    if ((this.freeCpu[i] as number) < ask.resources.cpu) return CPU;
    if ((this.freeMemory[i] as number) < ask.resources.memory) return MEMORY;
    if (ask.hostPorts.length > 0) {
      const held = this.ports[i];
      if (held !== undefined) for (const p of ask.hostPorts) if (held.has(p)) return portReason(p);
    }
    return null;
  }

  /** The fast form of shortOf for the hot loop: no reason string is built. */
  fits(i: number, ask: Ask): boolean {
    if ((this.freeCpu[i] as number) < ask.resources.cpu || (this.freeMemory[i] as number) < ask.resources.memory) return false;
    if (ask.hostPorts.length === 0) return true;
    const held = this.ports[i];
    if (held !== undefined) for (const p of ask.hostPorts) if (held.has(p)) return false;
    return true;
  }
}
