/*
 * STATUS       request: empty      response: JSON CellStatus: the answering cell's view of the swarm,
 *              its store, healing, scrubbing and wire counters, and its recent events.
 *
 * The one STATUS shape: the cell writes it, `swarm status`, `top`, the demo
 * and the tests read it. Each part lists its fields once, below; the encoder
 * picks exactly those from the cell's richer objects.
 */
import { MEMBERS_MAX, MESSAGE_BYTES_MAX, isCellId, type Addr, type SwarmEvent } from '../../core/index.js';
import { DROP_REASONS, type DropReason } from '../frame.js';
import { MessageType } from '../types.js';
import { emptyCodec, type RequestSpec } from './codec.js';
import { amounts, arrayOf, hasShape, isAddr, isAmount, isCount, isText, jsonCodec } from './json.js';
import { listedMemberOf, parseListedMember, type ListedMember } from './members.js';

/** Events a STATUS answer carries, the latest. */
export const STATUS_EVENTS_MAX = 100;
/** Client addresses a STATUS answer carries: as many as a cell lets watch its view by default (views.watchersMax). */
export const STATUS_CLIENTS_MAX = 256;

const STORE_FIELDS = ['chunks', 'bytes', 'capacityBytes', 'corruptFound', 'records'] as const;
const HEAL_FIELDS = ['passes', 'pushed', 'pushedBytes', 'removed', 'lastPassRepairs', 'lastPassMs', 'recordsPushed', 'recordsDropped', 'heldForLeft'] as const;
/** Longest text saying what healing does or why it waits. */
const HEAL_ACTIVITY_CHARS_MAX = 512;
const IMMUNE_FIELDS = ['passes', 'chunks', 'bytes', 'alertsRaised', 'confirmed', 'rejected', 'passProgress'] as const;
const WIRE_FIELDS = [
  'framesSent',
  'framesReceived',
  'bytesSent',
  'bytesReceived',
  'retransmitted',
  'requestsServed',
  'duplicatesSuppressed',
  'requestsTimedOut',
  'busy',
] as const;

/** A cell's store: chunks and bytes held, its capacity, corrupt files found since start, and namespace records held. */
export type StatusStore = Record<(typeof STORE_FIELDS)[number], number>;
/** What healing did, and what it is doing or why a repair waits ('' when idle) (heal/healer.ts HealStats). */
export type StatusHeal = Record<(typeof HEAL_FIELDS)[number], number> & { activity: string };
/** What scrubbing did (immune/immune.ts ScrubStats); passProgress is the current pass's, 0..1. */
export type StatusImmune = Record<(typeof IMMUNE_FIELDS)[number], number>;

/** Wire counters, kept by the endpoint (rpc/) and shown by `swarm status`. */
export interface WireCounters {
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Requests and fragments sent again after a timeout or a detected loss. */
  retransmitted: number;
  requestsServed: number;
  /** Retried requests answered from the duplicate cache instead of being executed again. */
  duplicatesSuppressed: number;
  requestsTimedOut: number;
  /** Requests refused locally or remotely because a bound was reached. */
  busy: number;
  dropped: Partial<Record<DropReason, number>>;
}

export interface CellStatus {
  id: string;
  addr: string;
  pid: number;
  incarnation: number;
  startedAtMs: number;
  members: ListedMember[];
  store: StatusStore;
  heal: StatusHeal;
  immune: StatusImmune;
  wire: WireCounters;
  events: SwarmEvent[];
  /** Clients watching this cell's member view (their addresses; absent from older cells). */
  clients?: Addr[];
}

const store = amounts(STORE_FIELDS);
const healCounts = amounts(HEAL_FIELDS);

function parseHeal(v: unknown): StatusHeal | null {
  if (!hasShape(v, [...HEAL_FIELDS, 'activity'])) return null;
  const { activity, ...counts } = v;
  const c = healCounts.validate(counts);
  return c && isText(activity, HEAL_ACTIVITY_CHARS_MAX) ? { ...c, activity } : null;
}

const immune = amounts(IMMUNE_FIELDS);
const wireTotals = amounts(WIRE_FIELDS);

function parseDropped(v: unknown): Partial<Record<DropReason, number>> | null {
  if (!hasShape(v, [], DROP_REASONS)) return null;
  const out: Partial<Record<DropReason, number>> = {};
  for (const [reason, n] of Object.entries(v)) {
    if (!isCount(n)) return null;
    out[reason as DropReason] = n;
  }
  return out;
}

function parseWire(v: unknown): WireCounters | null {
  if (!hasShape(v, [...WIRE_FIELDS, 'dropped'])) return null;
  const { dropped: d, ...totals } = v;
  const t = wireTotals.validate(totals);
  const dropped = parseDropped(d);
  return t && dropped ? { ...t, dropped } : null;
}

const EVENT_TYPE_CHARS_MAX = 128;
const EVENT_DETAIL_CHARS_MAX = 4096;

function parseEvent(v: unknown): SwarmEvent | null {
  if (!hasShape(v, ['atMs', 'type'], ['cellId', 'detail'])) return null;
  if (!isAmount(v.atMs) || !isText(v.type, EVENT_TYPE_CHARS_MAX)) return null;
  if (!(v.cellId === undefined || isText(v.cellId, 64)) || !(v.detail === undefined || isText(v.detail, EVENT_DETAIL_CHARS_MAX))) return null;
  return { atMs: v.atMs, type: v.type, ...(v.cellId !== undefined ? { cellId: v.cellId } : {}), ...(v.detail !== undefined ? { detail: v.detail } : {}) };
}

const eventOf = ({ atMs, type, cellId, detail }: SwarmEvent): SwarmEvent => ({ atMs, type, cellId, detail });

const STATUS_FIELDS = ['id', 'addr', 'pid', 'incarnation', 'startedAtMs', 'members', 'store', 'heal', 'immune', 'wire', 'events'] as const;

export function parseStatus(v: unknown): CellStatus | null {
  if (!hasShape(v, STATUS_FIELDS, ['clients'])) return null;
  if (!isCellId(v.id) || !isAddr(v.addr) || !isCount(v.pid) || !isCount(v.incarnation) || !isAmount(v.startedAtMs)) return null;
  const members = arrayOf(v.members, MEMBERS_MAX, parseListedMember);
  const events = arrayOf(v.events, STATUS_EVENTS_MAX, parseEvent);
  const [st, he, im, wi] = [store.validate(v.store), parseHeal(v.heal), immune.validate(v.immune), parseWire(v.wire)];
  const clients = v.clients === undefined ? [] : arrayOf(v.clients, STATUS_CLIENTS_MAX, (a) => (isAddr(a) ? a : null));
  if (!members || !events || !st || !he || !im || !wi || !clients) return null;
  return { id: v.id, addr: v.addr, pid: v.pid, incarnation: v.incarnation, startedAtMs: v.startedAtMs, members, store: st, heal: he, immune: im, wire: wi, events, clients };
}

/** Exactly the STATUS fields, from a cell's own objects (which may hold more). */
function statusOf(s: CellStatus): CellStatus {
  return {
    id: s.id,
    addr: s.addr,
    pid: s.pid,
    incarnation: s.incarnation,
    startedAtMs: s.startedAtMs,
    members: s.members.map(listedMemberOf),
    store: store.pick(s.store),
    heal: { ...healCounts.pick(s.heal), activity: s.heal.activity.slice(0, HEAL_ACTIVITY_CHARS_MAX) },
    immune: immune.pick(s.immune),
    wire: { ...wireTotals.pick(s.wire), dropped: { ...s.wire.dropped } },
    events: s.events.slice(-STATUS_EVENTS_MAX).map(eventOf),
    clients: (s.clients ?? []).slice(0, STATUS_CLIENTS_MAX),
  };
}

export const STATUS: RequestSpec<void, CellStatus> = {
  type: MessageType.STATUS,
  request: emptyCodec,
  response: jsonCodec<CellStatus, unknown>(MESSAGE_BYTES_MAX, parseStatus, statusOf),
};
