// DNS messages in and out: which datagrams are queries worth answering, and replies that fit the
// asker's transport. The wire format is dns-packet's; this module only decides what goes in it.
import * as packet from "dns-packet";
import type { Answer, DecodedPacket, OptAnswer, Packet } from "dns-packet";

export type Rcode = "NOERROR" | "FORMERR" | "SERVFAIL" | "NXDOMAIN" | "NOTIMP" | "REFUSED";

const RCODES: Record<Rcode, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };
const OPCODE_MASK = 0x7800;
/** Without EDNS a UDP reply holds 512 bytes (RFC 1035); with it, no more than 1232, which crosses any path unfragmented. */
const UDP_PLAIN = 512;
const UDP_EDNS_MAX = 1232;
/** A TCP message's length prefix is 16 bits. */
export const TCP_MAX = 65_535;

/** The query in `bytes`, or null for anything not to be answered at all: undecodable, or itself a response. */
export function decodeQuery(bytes: Buffer): DecodedPacket | null {
  let query: DecodedPacket;
  try {
    query = packet.decode(bytes);
  } catch {
    return null;
  }
  return query.type === "query" ? query : null;
}

/** Why a decoded query cannot be answered as asked, if it cannot. */
export function queryProblem(query: DecodedPacket): Rcode | null {
  if ((query.flags ?? 0) & OPCODE_MASK) return "NOTIMP";
  if (query.questions?.length !== 1) return "FORMERR";
  return null;
}

export type ReplyParts = {
  rcode: Rcode;
  answers?: Answer[];
  authorities?: Answer[];
  additionals?: Answer[];
  authoritative?: boolean;
};

/** A reply to `query`: its id, opcode, question and recursion-desired bit, and an OPT record if it sent one. */
export function reply(query: DecodedPacket, parts: ReplyParts): Packet {
  const flags =
    ((query.flags ?? 0) & (OPCODE_MASK | packet.RECURSION_DESIRED | packet.CHECKING_DISABLED)) |
    packet.RECURSION_AVAILABLE |
    (parts.authoritative ? packet.AUTHORITATIVE_ANSWER : 0) |
    RCODES[parts.rcode];
  const additionals = [...(parts.additionals ?? [])];
  if (ednsOf(query)) additionals.push(ourOpt());
  return {
    type: "response",
    id: query.id ?? 0,
    flags,
    questions: query.questions ?? [],
    answers: parts.answers ?? [],
    authorities: parts.authorities ?? [],
    additionals,
  };
}

/** The most a UDP reply to `query` may hold. */
export function udpLimit(query: DecodedPacket): number {
  const opt = ednsOf(query);
  return opt ? Math.max(UDP_PLAIN, Math.min(opt.udpPayloadSize, UDP_EDNS_MAX)) : UDP_PLAIN;
}

/**
 * `response` encoded in at most `limit` bytes. Too big, it first loses its additional records (their
 * absence needs no truncation flag: the asker can look the targets up), then its answers, and is marked
 * truncated so the asker retries over TCP.
 */
export function encodeWithin(response: Packet, limit: number): Buffer {
  if (packet.encodingLength(response) <= limit) return packet.encode(response);
  const opt = (response.additionals ?? []).filter((a) => a.type === "OPT");
  const lean = { ...response, additionals: opt };
  if (packet.encodingLength(lean) <= limit) return packet.encode(lean);
  return packet.encode({ ...lean, flags: (response.flags ?? 0) | packet.TRUNCATED_RESPONSE, answers: [], authorities: [] });
}

function ednsOf(query: DecodedPacket): OptAnswer | undefined {
  return query.additionals?.find((a): a is OptAnswer => a.type === "OPT");
}

function ourOpt(): OptAnswer {
  return { type: "OPT", name: ".", udpPayloadSize: UDP_EDNS_MAX, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
}
