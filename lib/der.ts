// DER, the encoding X.509 certificates are written in: just the writer, and just the types a node
// certificate uses (see worker/mesh/certificates.ts). Reading certificates is left to the TLS stack.

export type Der = Uint8Array<ArrayBuffer>;

function length(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One tag-length-value. */
export function tlv(tag: number, ...content: Uint8Array[]): Der {
  const body = concat(content);
  return concat([Uint8Array.of(tag), length(body.length), body]);
}

export function concat(parts: readonly Uint8Array[]): Der {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const sequence = (...items: Der[]) => tlv(0x30, ...items);
export const set = (...items: Der[]) => tlv(0x31, ...items);
export const octetString = (bytes: Uint8Array) => tlv(0x04, bytes);
export const utf8String = (text: string) => tlv(0x0c, new TextEncoder().encode(text));
export const boolean = (value: boolean) => tlv(0x01, Uint8Array.of(value ? 0xff : 0));
/** A BIT STRING of whole bytes (no unused bits). */
export const bitString = (bytes: Uint8Array) => tlv(0x03, Uint8Array.of(0), bytes);
/** [n] EXPLICIT, constructed. */
export const explicit = (n: number, inner: Der) => tlv(0xa0 | n, inner);
/** [n] IMPLICIT of a primitive (as GeneralName's uniformResourceIdentifier is). */
export const implicitPrimitive = (n: number, bytes: Uint8Array) => tlv(0x80 | n, bytes);

/** A non-negative INTEGER from its big-endian magnitude (a leading zero keeps it positive). */
export function unsignedInteger(magnitude: Uint8Array): Der {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return tlv(0x02, trimmed[0]! & 0x80 ? concat([Uint8Array.of(0), trimmed]) : trimmed);
}

export function smallInteger(n: number): Der {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new Error(`not a small integer: ${n}`);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length > 0 ? bytes : [0]));
}

export function oid(dotted: string): Der {
  const arcs = dotted.split(".").map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isInteger(a) || a < 0)) throw new Error(`not an object identifier: ${dotted}`);
  const bytes = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const septets: number[] = [];
    for (let rest = arc; ; rest = Math.floor(rest / 128)) {
      septets.unshift(rest & 0x7f);
      if (rest < 128) break;
    }
    bytes.push(...septets.map((s, i) => (i < septets.length - 1 ? s | 0x80 : s)));
  }
  return tlv(0x06, Uint8Array.from(bytes));
}

/** UTCTime through 2049, GeneralizedTime after, to the second, as RFC 5280 asks. */
export function time(ms: number): Der {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString();
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "");
  const year = Number(digits.slice(0, 4));
  return year < 2050 ? tlv(0x17, new TextEncoder().encode(`${digits.slice(2)}Z`)) : tlv(0x18, new TextEncoder().encode(`${digits}Z`));
}

export function toPem(label: string, der: Uint8Array): string {
  let b64 = "";
  for (let i = 0; i < der.length; i += 0x8000) b64 += String.fromCharCode(...der.subarray(i, i + 0x8000));
  const text = btoa(b64);
  return `-----BEGIN ${label}-----\n${text.replace(/.{1,64}/g, "$&\n")}-----END ${label}-----\n`;
}
