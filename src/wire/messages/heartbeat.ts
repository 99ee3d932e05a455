/*
 * HEARTBEAT    one-way: JSON {self: MemberInfo, known: [{id, addr, incarnation}], quarantined?: [{id, incarnation}]}
 *              Must fit one datagram.
 */
import { isCellId, type Addr, type CellId } from '../../core/index.js';
import { MessageType } from '../types.js';
import type { NoticeSpec } from './codec.js';
import { SMALL_JSON_BYTES_MAX, arrayOf, hasShape, isAddr, isCount, jsonCodec } from './json.js';
import { memberInfoOf, parseMemberInfo, type MemberInfo } from './members.js';

/** Members listed per heartbeat for discovery; keeps a heartbeat inside one datagram. */
export const HEARTBEAT_KNOWN_MAX = 256;

export interface HeartbeatBody {
  self: MemberInfo;
  /** Members the sender has heard from lately: how joiners become known to everyone. */
  known: { id: CellId; addr: Addr; incarnation: number }[];
  /** Quarantines the sender knows of, so that every member converges on them. */
  quarantined: { id: CellId; incarnation: number }[];
}

function parseKnown(v: unknown): HeartbeatBody['known'][number] | null {
  return hasShape(v, ['id', 'addr', 'incarnation']) && isCellId(v.id) && isAddr(v.addr) && isCount(v.incarnation)
    ? { id: v.id, addr: v.addr, incarnation: v.incarnation }
    : null;
}

function parseQuarantined(v: unknown): HeartbeatBody['quarantined'][number] | null {
  return hasShape(v, ['id', 'incarnation']) && isCellId(v.id) && isCount(v.incarnation) ? { id: v.id, incarnation: v.incarnation } : null;
}

export function parseHeartbeat(v: unknown): HeartbeatBody | null {
  if (!hasShape(v, ['self', 'known'], ['quarantined'])) return null;
  const self = parseMemberInfo(v.self);
  const known = arrayOf(v.known, HEARTBEAT_KNOWN_MAX, parseKnown);
  // Older cells did not send it.
  const quarantined = v.quarantined === undefined ? [] : arrayOf(v.quarantined, HEARTBEAT_KNOWN_MAX, parseQuarantined);
  return self && known && quarantined ? { self, known, quarantined } : null;
}

export const HEARTBEAT: NoticeSpec<HeartbeatBody> = {
  type: MessageType.HEARTBEAT,
  body: jsonCodec(SMALL_JSON_BYTES_MAX, parseHeartbeat, (h) => ({
    self: memberInfoOf(h.self),
    known: h.known.map(({ id, addr, incarnation }) => ({ id, addr, incarnation })),
    quarantined: h.quarantined.map(({ id, incarnation }) => ({ id, incarnation })),
  })),
};
