// Seeded randomness for tie-breaks: the same evaluation id always yields the same order, so a plan can be replayed.

/** A source of numbers in [0, 1). */
export type Random = () => number;

/** 32-bit FNV-1a of a string, finished with murmur3's mixer so that similar strings seed unrelated streams. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: tiny, fast, and good enough to shuffle candidates; not for anything secret. */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return function next(): number {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stream seeded from several strings (e.g. evaluation id and job id), joined unambiguously. */
export function seededRandom(...parts: string[]): Random {
  return mulberry32(hashString(parts.join("\u0000")));
}

/** Fisher–Yates in place. */
export function shuffleInPlace(items: Int32Array, random: Random): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = items[i] as number;
    items[i] = items[j] as number;
    items[j] = t;
  }
}
