/*
 * JOIN         request: JSON MemberInfo (the joiner)   response: JSON [MemberInfo + {dead?: true}],
 *              the members the answering cell knows (dead ones marked)
 * MEMBERS      request: empty                          response: JSON [MemberInfo + {state, lastHeardMs}]
 */
import { MEMBERS_MAX, MESSAGE_BYTES_MAX, isCellId, type Addr, type CellId } from '../../core/index.js';
import { MessageType } from '../types.js';
import { emptyCodec, type RequestSpec } from './codec.js';
import { SMALL_JSON_BYTES_MAX, arrayOf, hasShape, isAddr, isCount, jsonCodec } from './json.js';

export type Role = 'stem' | 'storage' | 'guard';
export const ROLES: readonly Role[] = ['stem', 'storage', 'guard'];
/** 'left': stopped on purpose and said so (a graceful leave), never taken for a failure. */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'quarantined' | 'left';
export const MEMBER_STATES: readonly MemberState[] = ['alive', 'suspect', 'dead', 'quarantined', 'left'];

/** What a member says about itself in every heartbeat. */
export interface MemberInfo {
  id: CellId;
  addr: Addr;
  /** Bumped on each restart; news with a lower incarnation is stale. */
  incarnation: number;
  role: Role;
  pid: number;
  chunks: number;
  bytes: number;
  capacityBytes: number;
  /** The role it announced it is about to take (differentiation), if any. */
  intent?: Role | null;
  /** When it announced that intent (wall ms). */
  intentAtMs?: number;
}

/** A member as a cell reports it (MEMBERS, STATUS): what it says of itself, its state, and how long ago it was heard (ms). */
export interface ListedMember extends MemberInfo {
  state: MemberState;
  lastHeardMs: number;
}

/** A member in a JOIN answer: what it says of itself, and whether the answering cell holds it dead. */
export type JoinedMember = MemberInfo & { dead: boolean };

export const INFO_FIELDS = ['id', 'addr', 'incarnation', 'role', 'pid', 'chunks', 'bytes', 'capacityBytes'] as const;
export const INFO_OPTIONAL = ['intent', 'intentAtMs'] as const;

const isRole = (v: unknown): v is Role => (ROLES as readonly unknown[]).includes(v);

/** Validates a MemberInfo given its object `o` (already shape-checked by the caller); null if anything is off. */
export function infoFrom(o: Record<string, unknown>): MemberInfo | null {
  if (!isCellId(o.id) || !isAddr(o.addr) || !isRole(o.role)) return null;
  if (!isCount(o.incarnation) || !isCount(o.pid) || !isCount(o.chunks) || !isCount(o.bytes) || !isCount(o.capacityBytes)) return null;
  if (!(o.intent === undefined || o.intent === null || isRole(o.intent))) return null;
  if (!(o.intentAtMs === undefined || isCount(o.intentAtMs))) return null;
  const intent = (o.intent as Role | null | undefined) ?? null;
  return {
    intent,
    intentAtMs: intent && o.intentAtMs !== undefined ? (o.intentAtMs as number) : 0,
    id: o.id,
    addr: o.addr,
    incarnation: o.incarnation,
    role: o.role,
    pid: o.pid,
    chunks: o.chunks,
    bytes: o.bytes,
    capacityBytes: o.capacityBytes,
  };
}

/** Validates a MemberInfo from the wire: exactly its fields; null if anything is off. */
export function parseMemberInfo(v: unknown): MemberInfo | null {
  return hasShape(v, INFO_FIELDS, INFO_OPTIONAL) ? infoFrom(v) : null;
}

/** Exactly the fields of a MemberInfo, from anything that has them (a member with its local timers). */
export function memberInfoOf(m: MemberInfo): MemberInfo {
  const { id, addr, incarnation, role, pid, chunks, bytes, capacityBytes, intent, intentAtMs } = m;
  return { id, addr, incarnation, role, pid, chunks, bytes, capacityBytes, intent, intentAtMs };
}

export function parseListedMember(v: unknown): ListedMember | null {
  if (!hasShape(v, [...INFO_FIELDS, 'state', 'lastHeardMs'], INFO_OPTIONAL)) return null;
  const info = infoFrom(v);
  if (!info || !(MEMBER_STATES as readonly unknown[]).includes(v.state) || !isCount(v.lastHeardMs)) return null;
  return { ...info, state: v.state as MemberState, lastHeardMs: v.lastHeardMs };
}

export function listedMemberOf(m: ListedMember): ListedMember {
  return { ...memberInfoOf(m), state: m.state, lastHeardMs: m.lastHeardMs };
}

function parseJoinedMember(v: unknown): JoinedMember | null {
  if (!hasShape(v, INFO_FIELDS, [...INFO_OPTIONAL, 'dead'])) return null;
  const info = infoFrom(v);
  if (!info || !(v.dead === undefined || typeof v.dead === 'boolean')) return null;
  return { ...info, dead: v.dead === true };
}

/** A member list as large as the member table may be. */
export const LISTED_MEMBERS_MAX = MEMBERS_MAX;

export const listedMembersCodec = jsonCodec<ListedMember[], unknown>(
  MESSAGE_BYTES_MAX,
  (v) => arrayOf(v, LISTED_MEMBERS_MAX, parseListedMember),
  (list) => list.map(listedMemberOf),
);

export const MEMBERS: RequestSpec<void, ListedMember[]> = { type: MessageType.MEMBERS, request: emptyCodec, response: listedMembersCodec };

export const JOIN: RequestSpec<MemberInfo, JoinedMember[]> = {
  type: MessageType.JOIN,
  request: jsonCodec(SMALL_JSON_BYTES_MAX, parseMemberInfo, memberInfoOf),
  response: jsonCodec(
    MESSAGE_BYTES_MAX,
    (v) => arrayOf(v, LISTED_MEMBERS_MAX, parseJoinedMember),
    // Dead members are marked; live ones carry no flag (as cells have always sent them).
    (list) => list.map((m) => ({ ...memberInfoOf(m), ...(m.dead ? { dead: true } : {}) })),
  ),
};
