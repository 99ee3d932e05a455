/*
 * The SWIM failure detector's messages (membership/swim). Every one-way
 * message carries `inc` (the sender's incarnation) and `updates`: member
 * news piggybacked within one datagram.
 *
 * PROBE        one-way: JSON {seq, inc, updates}                     answered by PROBE_ACK with the same seq
 * PROBE_ACK    one-way: JSON {seq, inc, nack?: true, updates}        nack: a relay reached no answer (it is alive itself)
 * PROBE_REQ    one-way: JSON {seq, inc, target, targetAddr, updates} probe target for me; ack (or nack) with my seq
 * PUSH_PULL    request: JSON {digest, buckets, pull, updates}  response: JSON {digest, buckets, updates}
 *              digest: 16 hex digits of the sender's whole table (itself included); buckets: 16 hex digits
 *              for each of a power of two (at most 256) buckets of it, or none; updates: the members of the
 *              buckets that differ (all of them without buckets to compare), or none; pull: answer with
 *              the members whose buckets differ (fragmented if large)
 * GOSSIP       one-way: JSON {inc, updates}                          news only (periodic fan-out, a leave)
 */
import { MEMBERS_MAX, MESSAGE_BYTES_MAX, isCellId, type Addr, type CellId } from '../../core/index.js';
import { MessageType } from '../types.js';
import type { NoticeSpec, RequestSpec } from './codec.js';
import { SMALL_JSON_BYTES_MAX, arrayOf, hasShape, isAddr, isCount, jsonCodec } from './json.js';
import { INFO_FIELDS, INFO_OPTIONAL, MEMBER_STATES, infoFrom, type MemberInfo, type MemberState } from './members.js';

/** Accusers named in one suspect update: enough for Lifeguard's confirmations (suspicionMult - 2) and a few more. */
export const ACCUSERS_MAX = 8;
/** Updates in one piggyback a receiver accepts: a datagram of 64 KiB holds about 250 of them (senders fill far less: piggybackBytesMax). */
export const UPDATES_PER_MESSAGE_MAX = 512;

/**
 * News about one member: what it says of itself, the state the sender holds
 * it in, and the version of its self-description (bumped by the member
 * whenever it says something new at the same incarnation).
 */
export interface MemberUpdate extends MemberInfo {
  state: MemberState;
  version: number;
  /** For a suspect: the cells that suspect it (Lifeguard counts independent ones). */
  accusers?: CellId[];
}

function parseUpdate(v: unknown): MemberUpdate | null {
  if (!hasShape(v, [...INFO_FIELDS, 'state', 'version'], [...INFO_OPTIONAL, 'accusers'])) return null;
  const info = infoFrom(v);
  if (!info || !(MEMBER_STATES as readonly unknown[]).includes(v.state) || !isCount(v.version)) return null;
  const accusers = v.accusers === undefined ? undefined : arrayOf(v.accusers, ACCUSERS_MAX, (a) => (isCellId(a) ? a : null));
  if (accusers === null) return null;
  return updateOf(info, v.state as MemberState, v.version, accusers);
}

/** Written out, not spread: objects made by spreading get shapes of their own, and every read of them is slow. */
function updateOf(info: MemberInfo, state: MemberState, version: number, accusers: CellId[] | undefined): MemberUpdate {
  const { id, addr, incarnation, role, pid, chunks, bytes, capacityBytes, intent, intentAtMs } = info;
  const u: MemberUpdate = { id, addr, incarnation, role, pid, chunks, bytes, capacityBytes, intent, intentAtMs, state, version };
  if (accusers) u.accusers = accusers;
  return u;
}

export function memberUpdateOf(u: MemberUpdate): MemberUpdate {
  return updateOf(u, u.state, u.version, u.accusers);
}

const encodedUpdates = new WeakMap<MemberUpdate, string>();

/**
 * An update's JSON, made once per update object: the detector keeps one
 * object per member state and sends it λ·log N times (and measures it
 * before each send), so nothing is stringified twice.
 */
export function encodedUpdate(u: MemberUpdate): string {
  let json = encodedUpdates.get(u);
  if (json === undefined) {
    json = JSON.stringify(memberUpdateOf(u));
    encodedUpdates.set(u, json);
  }
  return json;
}

const encodedList = (updates: readonly MemberUpdate[]) => `[${updates.map(encodedUpdate).join(',')}]`;

/** A piggyback message: its own fields as JSON, then the updates' cached encodings. */
function encodePiggyback({ updates, ...fields }: Piggyback & Record<string, unknown>): Buffer {
  const head = JSON.stringify(fields);
  return Buffer.from(`${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"updates":${encodedList(updates)}}`);
}

export interface Piggyback {
  /** The sender's incarnation: a message from a member is first-hand news that it is alive at it. */
  inc: number;
  updates: MemberUpdate[];
}

export interface ProbeBody extends Piggyback {
  seq: number;
}

export interface ProbeAckBody extends Piggyback {
  seq: number;
  /** Sent by a relay whose probe went unanswered: it is alive, so the prober's own link is fine. */
  nack: boolean;
}

export interface ProbeRequestBody extends Piggyback {
  seq: number;
  target: CellId;
  targetAddr: Addr;
}

const parseUpdates = (v: unknown) => arrayOf(v, UPDATES_PER_MESSAGE_MAX, parseUpdate);

function piggybackCodec<T extends Piggyback>(required: readonly string[], optional: readonly string[], rest: (o: Record<string, unknown>) => Omit<T, keyof Piggyback> | null) {
  const fieldsRequired = ['inc', 'updates', ...required];
  const { decode } = jsonCodec<T>(SMALL_JSON_BYTES_MAX, (v) => {
    if (!hasShape(v, fieldsRequired, optional) || !isCount(v.inc)) return null;
    const updates = parseUpdates(v.updates);
    const body = rest(v) as T | null;
    if (!updates || !body) return null;
    body.inc = v.inc;
    body.updates = updates;
    return body;
  });
  return { decode, encode: (b: T) => encodePiggyback(b as T & Record<string, unknown>) };
}

export const PROBE: NoticeSpec<ProbeBody> = {
  type: MessageType.PROBE,
  body: piggybackCodec<ProbeBody>(['seq'], [], (o) => (isCount(o.seq) ? { seq: o.seq } : null)),
};

export const PROBE_ACK: NoticeSpec<ProbeAckBody> = {
  type: MessageType.PROBE_ACK,
  body: {
    ...piggybackCodec<ProbeAckBody>(['seq'], ['nack'], (o) =>
      isCount(o.seq) && (o.nack === undefined || o.nack === true) ? { seq: o.seq, nack: o.nack === true } : null,
    ),
    // Only a nack says so: an ack is the common case and stays short.
    encode: (b) => encodePiggyback({ seq: b.seq, inc: b.inc, ...(b.nack ? { nack: true } : {}), updates: b.updates }),
  },
};

export const PROBE_REQ: NoticeSpec<ProbeRequestBody> = {
  type: MessageType.PROBE_REQ,
  body: piggybackCodec<ProbeRequestBody>(['seq', 'target', 'targetAddr'], [], (o) =>
    isCount(o.seq) && isCellId(o.target) && isAddr(o.targetAddr) ? { seq: o.seq, target: o.target, targetAddr: o.targetAddr } : null,
  ),
};

export const GOSSIP: NoticeSpec<Piggyback> = {
  type: MessageType.GOSSIP,
  body: piggybackCodec<Piggyback>([], [], () => ({})),
};

/** A push-pull's half: digests of the sender's whole table and of its buckets, and members of it. */
export interface TableExchange {
  digest: string;
  /** 16 hex digits a bucket, for a power of two of them (at most 256); empty: none given. */
  buckets: string;
  updates: MemberUpdate[];
}

export interface TableOffer extends TableExchange {
  /** Answer with the whole table if the digests differ. */
  pull: boolean;
}

const isDigest = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{16}$/.test(v);
/** Bucket digests: none, or 16 hex digits for each of a power of two of buckets, at most 256. */
const isBuckets = (v: unknown): v is string =>
  typeof v === 'string' && v.length <= 256 * 16 && /^[0-9a-f]*$/.test(v) && (v.length === 0 || (v.length % 16 === 0 && Number.isInteger(Math.log2(v.length / 16))));

function tableCodec<T extends TableExchange>(optional: readonly string[], rest: (o: Record<string, unknown>) => Omit<T, keyof TableExchange> | null) {
  const { decode } = jsonCodec<T, unknown>(MESSAGE_BYTES_MAX, (v) => {
    if (!hasShape(v, ['digest', 'buckets', 'updates'], optional) || !isDigest(v.digest) || !isBuckets(v.buckets)) return null;
    const updates = arrayOf(v.updates, MEMBERS_MAX + 1, parseUpdate);
    const body = rest(v) as T | null;
    if (!updates || !body) return null;
    body.digest = v.digest;
    body.buckets = v.buckets;
    body.updates = updates;
    return body;
  });
  const encode = ({ updates, ...fields }: T) => Buffer.from(`${JSON.stringify(fields).slice(0, -1)},"updates":${encodedList(updates)}}`);
  return { decode, encode };
}

export const PUSH_PULL: RequestSpec<TableOffer, TableExchange> = {
  type: MessageType.PUSH_PULL,
  request: tableCodec<TableOffer>(['pull'], (o) => (o.pull === undefined || typeof o.pull === 'boolean' ? { pull: o.pull === true } : null)),
  response: tableCodec<TableExchange>([], () => ({})),
};
