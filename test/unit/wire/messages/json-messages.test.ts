import test from 'ava';
import { MEMBERS_MAX, chunkKeyOf } from '../../../../src/core/index.js';
import {
  HEARTBEAT_KNOWN_MAX,
  MessageType,
  Messages,
  RECORDS_PER_MESSAGE_MAX,
  SMALL_JSON_BYTES_MAX,
  STATUS_CLIENTS_MAX,
  STATUS_EVENTS_MAX,
  type CellStatus,
  type Codec,
  type ListedMember,
  type MemberInfo,
  type RecordEnvelope,
} from '../../../../src/wire/index.js';

/*
 * Every JSON message's decoder, by table: a valid sample round-trips through
 * its encoder; the sample cut short, with a field of the wrong type, over one
 * of its bounds, or with a field it does not know, decodes to null; garbage
 * never throws.
 */

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

const A = '0123456789abcdef';
const B = 'fedcba9876543210';
const C = '00112233445566ff';
const KEY = chunkKeyOf(Buffer.from('x'));
const info: MemberInfo = { id: A, addr: '127.0.0.1:7001', incarnation: 3, role: 'storage', pid: 42, chunks: 5, bytes: 100, capacityBytes: 1000, intent: null, intentAtMs: 0 };
const listed: ListedMember = { ...info, state: 'alive', lastHeardMs: 12 };
const inode: RecordEnvelope = { k: `i/${A}`, v: '0000000000a1.000000.0c', d: { type: 'file', mode: 33188, size: 3 } };
const tombstone: RecordEnvelope = { k: `d/${A}/report.txt`, v: '0000000000a2.000001.0c', d: null };
const status: CellStatus = {
  id: A,
  addr: '127.0.0.1:7001',
  pid: 42,
  incarnation: 3,
  startedAtMs: 1_700_000_000_000,
  members: [listed, { ...listed, id: B, addr: '127.0.0.1:7002', state: 'quarantined', intent: 'guard', intentAtMs: 5 }],
  store: { chunks: 5, bytes: 100, capacityBytes: 1000, corruptFound: 0, records: 7 },
  heal: { passes: 1, pushed: 2, pushedBytes: 300, removed: 0, lastPassRepairs: 0, lastPassMs: 12.5, recordsPushed: 0, recordsDropped: 0, heldForLeft: 4, activity: 'repairing: 1 of 2 copies made' },
  immune: { passes: 0, chunks: 0, bytes: 0, alertsRaised: 0, confirmed: 0, rejected: 0, passProgress: 0.5 },
  wire: {
    framesSent: 1,
    framesReceived: 2,
    bytesSent: 3,
    bytesReceived: 4,
    retransmitted: 0,
    requestsServed: 1,
    duplicatesSuppressed: 0,
    requestsTimedOut: 0,
    busy: 0,
    dropped: { tag: 2, stale: 1 },
  },
  events: [
    { atMs: 1_700_000_000_001, type: 'member-joined', cellId: B, detail: '127.0.0.1:7002 (seen by 01234567)' },
    { atMs: 1_700_000_000_002, type: 'repair-started' },
  ],
  clients: ['127.0.0.1:40001'],
};

interface Row {
  name: string;
  codec: Codec<any, any>;
  context?: unknown;
  valid: unknown;
  /** Malformed variants of the valid sample, as JSON values (or raw bodies). */
  bad: [string, unknown][];
}

/** The sample with one change made to a copy. */
function changed<T>(v: T, change: (c: any) => void): unknown {
  const c = clone(v);
  change(c);
  return c;
}

const rows: Row[] = [
  {
    name: 'HEARTBEAT',
    codec: Messages.HEARTBEAT.body,
    valid: { self: info, known: [{ id: B, addr: '127.0.0.1:7002', incarnation: 1 }], quarantined: [{ id: B, incarnation: 1 }] },
    bad: [
      ['self wrong-typed', { self: { ...info, pid: '42' }, known: [], quarantined: [] }],
      ['known entry with a role', { self: info, known: [{ id: B, addr: '127.0.0.1:7002', incarnation: 1, role: 'stem' }], quarantined: [] }],
      ['known over its bound', { self: info, known: Array(HEARTBEAT_KNOWN_MAX + 1).fill({ id: B, addr: '127.0.0.1:7002', incarnation: 1 }), quarantined: [] }],
      ['quarantined id not an id', { self: info, known: [], quarantined: [{ id: 'zz', incarnation: 1 }] }],
      ['extra field', { self: info, known: [], quarantined: [], extra: 1 }],
      ['extra field in self', { self: { ...info, extra: 1 }, known: [] }],
      ['no known', { self: info }],
      ['a bad role', { self: { ...info, role: 'king' }, known: [] }],
      ['an address without a port', { self: { ...info, addr: '127.0.0.1' }, known: [] }],
      ['a negative count', { self: { ...info, chunks: -1 }, known: [] }],
      ['a fractional incarnation', { self: { ...info, incarnation: 1.5 }, known: [] }],
    ],
  },
  {
    name: 'JOIN request',
    codec: Messages.JOIN.request,
    valid: { ...info, intent: 'guard', intentAtMs: 99 },
    bad: [
      ['wrong-typed id', { ...info, id: 7 }],
      ['extra field', { ...info, state: 'alive' }],
      ['missing field', changed(info, (c) => delete c.capacityBytes)],
      ['a bad intent', { ...info, intent: 'king' }],
      ['an array', [info]],
    ],
  },
  {
    name: 'JOIN answer',
    codec: Messages.JOIN.response,
    context: info,
    valid: [
      { ...info, dead: false, left: false },
      { ...info, id: B, dead: true, left: false },
      { ...info, id: C, dead: false, left: true },
    ],
    bad: [
      ['dead wrong-typed', [{ ...info, dead: 'yes' }]],
      ['left wrong-typed', [{ ...info, left: 1 }]],
      ['both dead and left', [{ ...info, dead: true, left: true }]],
      ['extra field', [{ ...info, state: 'dead' }]],
      ['over its bound', Array(MEMBERS_MAX + 1).fill(info)],
      ['not a list', { members: [info] }],
    ],
  },
  {
    name: 'MEMBERS answer',
    codec: Messages.MEMBERS.response,
    valid: [listed, { ...listed, id: B, state: 'dead', lastHeardMs: 60_000 }, { ...listed, id: C, state: 'left', lastHeardMs: 9_000 }],
    bad: [
      ['a bad state', [{ ...listed, state: 'asleep' }]],
      ['no state', [info]],
      ['lastHeardMs wrong-typed', [{ ...listed, lastHeardMs: '12' }]],
      ['extra field', [{ ...listed, lastHeardAtMs: 3 }]],
      ['over its bound', Array(MEMBERS_MAX + 1).fill(listed)],
    ],
  },
  {
    name: 'VIEW_WATCH answer',
    codec: Messages.VIEW_WATCH.response,
    valid: { epoch: 123456789, seq: 4, leaseMs: 10_000, members: [listed] },
    bad: [
      ['no epoch', { seq: 4, leaseMs: 10_000, members: [listed] }],
      ['a negative seq', { epoch: 1, seq: -1, leaseMs: 10_000, members: [listed] }],
      ['a bad member', { epoch: 1, seq: 4, leaseMs: 10_000, members: [info] }],
      ['over its bound', { epoch: 1, seq: 4, leaseMs: 10_000, members: Array(MEMBERS_MAX + 1).fill(listed) }],
    ],
  },
  {
    name: 'VIEW_RENEW request',
    codec: Messages.VIEW_RENEW.request,
    valid: { epoch: 7, leave: true },
    bad: [
      ['leave false on the wire', { epoch: 7, leave: false }],
      ['epoch wrong-typed', { epoch: '7' }],
      ['extra field', { epoch: 7, seq: 1 }],
    ],
  },
  {
    name: 'VIEW_RENEW answer',
    codec: Messages.VIEW_RENEW.response,
    valid: { seq: 9, watching: true },
    bad: [
      ['watching wrong-typed', { seq: 9, watching: 1 }],
      ['no seq', { watching: true }],
    ],
  },
  {
    name: 'VIEW_NEWS',
    codec: Messages.VIEW_NEWS.body,
    valid: { epoch: 7, seq: 10, changed: [listed], gone: [B], reset: true },
    bad: [
      ['reset false on the wire', { epoch: 7, seq: 10, changed: [], gone: [], reset: false }],
      ['a gone id that is no id', { epoch: 7, seq: 10, changed: [], gone: ['x'] }],
      ['a bad member', { epoch: 7, seq: 10, changed: [{ ...listed, state: 'asleep' }], gone: [] }],
      ['no gone', { epoch: 7, seq: 10, changed: [] }],
    ],
  },
  {
    name: 'LEAVE',
    codec: Messages.LEAVE.body,
    valid: { id: B, incarnation: 4 },
    bad: [
      ['not an id', { id: 'cell-1', incarnation: 4 }],
      ['a negative incarnation', { id: B, incarnation: -1 }],
      ['a fractional incarnation', { id: B, incarnation: 1.5 }],
      ['no incarnation', { id: B }],
      ['extra field', { id: B, incarnation: 4, addr: '127.0.0.1:7002' }],
      ['a list', [{ id: B, incarnation: 4 }]],
    ],
  },
  {
    name: 'FORGET request',
    codec: Messages.FORGET.request,
    valid: { id: B },
    bad: [
      ['not an id', { id: 'cell-1' }],
      ['extra field', { id: B, force: true }],
      ['empty', {}],
    ],
  },
  {
    name: 'FORGET answer',
    codec: Messages.FORGET.response,
    context: { id: B },
    valid: { forgotten: true },
    bad: [
      ['wrong-typed', { forgotten: 1 }],
      ['extra field', { forgotten: false, why: 'alive' }],
    ],
  },
  {
    name: 'ALERT request',
    codec: Messages.ALERT.request,
    valid: { accused: A, key: KEY, digestSeen: 'corrupt', reporter: B },
    bad: [
      ['key not a chunk key', { accused: A, key: 'abc', digestSeen: 'corrupt', reporter: B }],
      ['digest over its bound', { accused: A, key: KEY, digestSeen: 'f'.repeat(65), reporter: B }],
      ['empty digest', { accused: A, key: KEY, digestSeen: '', reporter: B }],
      ['extra field', { accused: A, key: KEY, digestSeen: KEY, reporter: B, confirmer: A }],
      ['reporter missing', { accused: A, key: KEY, digestSeen: KEY }],
    ],
  },
  {
    name: 'CONFIRMED',
    codec: Messages.CONFIRMED.body,
    valid: { accused: A, key: KEY, digestSeen: KEY, reporter: B, confirmer: B },
    bad: [
      ['no confirmer', { accused: A, key: KEY, digestSeen: KEY, reporter: B }],
      ['confirmer wrong-typed', { accused: A, key: KEY, digestSeen: KEY, reporter: B, confirmer: 1 }],
      ['extra field', { accused: A, key: KEY, digestSeen: KEY, reporter: B, confirmer: B, at: 1 }],
    ],
  },
  {
    name: 'FAULTS request',
    codec: Messages.FAULTS.request,
    valid: { lossRate: 0.1, dupRate: 0, reorderRate: 0.5 },
    bad: [
      ['a rate of 1', { lossRate: 1, dupRate: 0, reorderRate: 0 }],
      ['a negative rate', { lossRate: 0, dupRate: -0.1, reorderRate: 0 }],
      ['wrong-typed', { lossRate: '0.1', dupRate: 0, reorderRate: 0 }],
      ['missing', { lossRate: 0.1, dupRate: 0 }],
      ['extra field', { lossRate: 0, dupRate: 0, reorderRate: 0, delayMs: 5 }],
    ],
  },
  {
    name: 'LOCAL_GRANT answer',
    codec: Messages.LOCAL_GRANT.response,
    valid: { machine: 'm1', chunkDir: '/d/chunks', incomingDir: '/d/incoming', metaPath: '/d/meta.lmdb', recordsPath: '/d/records.lmdb' },
    bad: [
      ['a relative directory', { machine: 'm1', chunkDir: 'chunks', incomingDir: '/d/incoming' }],
      ['machine wrong-typed', { machine: 1, chunkDir: '/d/chunks', incomingDir: '/d/incoming' }],
      ['metaPath wrong-typed', { machine: 'm1', chunkDir: '/d/chunks', incomingDir: '/d/incoming', metaPath: 5 }],
      ['extra field', { machine: 'm1', chunkDir: '/d/chunks', incomingDir: '/d/incoming', uid: 0 }],
      ['a path over its bound', { machine: 'm1', chunkDir: '/' + 'd'.repeat(5000), incomingDir: '/d/incoming' }],
    ],
  },
  {
    name: 'REC_PUT request',
    codec: Messages.REC_PUT.request,
    valid: [inode, tombstone],
    bad: [
      ['a bad key', [{ ...inode, k: 'x/1' }]],
      ['a bad version', [{ ...inode, v: 'yesterday' }]],
      ['a value that is not an object', [{ ...inode, d: 'file' }]],
      ['no value', [{ k: inode.k, v: inode.v }]],
      ['extra field', [{ ...inode, ttl: 5 }]],
      ['over its bound', Array(RECORDS_PER_MESSAGE_MAX + 1).fill(inode)],
    ],
  },
  {
    name: 'REC_GET request',
    codec: Messages.REC_GET.request,
    valid: [inode.k, tombstone.k],
    bad: [
      ['a bad key', ['i/xyz']],
      ['wrong-typed', [5]],
      ['over its bound', Array(RECORDS_PER_MESSAGE_MAX + 1).fill(inode.k)],
      ['not a list', { keys: [inode.k] }],
    ],
  },
  {
    name: 'REC_GET answer',
    codec: Messages.REC_GET.response,
    context: [inode.k, `i/${B}`],
    valid: [inode, null],
    bad: [
      ['fewer answers than keys', [inode]],
      ['more answers than keys', [inode, null, null]],
      ['an answer for another key', [{ ...inode, k: `i/${B}` }, null]],
      ['a malformed record', [{ ...inode, v: 1 }, null]],
      ['extra field', [{ ...inode, extra: 1 }, null]],
    ],
  },
  {
    name: 'REC_SCAN request',
    codec: Messages.REC_SCAN.request,
    valid: { prefix: `d/${A}/`, after: null, limit: 512 },
    bad: [
      ['after wrong-typed', { prefix: 'd/', after: 5 }],
      ['limit 0', { prefix: 'd/', after: null, limit: 0 }],
      ['limit over its bound', { prefix: 'd/', after: null, limit: RECORDS_PER_MESSAGE_MAX + 1 }],
      ['prefix over its bound', { prefix: 'd/' + 'x'.repeat(2000), after: null }],
      ['extra field', { prefix: 'd/', after: null, reverse: true }],
      ['no after', { prefix: 'd/' }],
    ],
  },
  {
    name: 'REC_SCAN answer',
    codec: Messages.REC_SCAN.response,
    context: { prefix: `d/${A}/`, after: null },
    valid: [tombstone],
    bad: [
      ['a null entry', [null]],
      ['over its bound', Array(RECORDS_PER_MESSAGE_MAX + 1).fill(tombstone)],
      ['extra field', [{ ...tombstone, extra: 1 }]],
    ],
  },
  {
    name: 'REC_SYNC request',
    codec: Messages.REC_SYNC.request,
    valid: [{ k: inode.k, v: inode.v }],
    bad: [
      ['with a value', [inode]],
      ['a bad version', [{ k: inode.k, v: 5 }]],
      ['over its bound', Array(RECORDS_PER_MESSAGE_MAX + 1).fill({ k: inode.k, v: inode.v })],
    ],
  },
  {
    name: 'REC_SYNC answer',
    codec: Messages.REC_SYNC.response,
    context: [{ k: inode.k, v: inode.v }, { k: tombstone.k, v: tombstone.v }],
    valid: [1],
    bad: [
      ['an index past the offer', [2]],
      ['an index twice', [0, 0]],
      ['a negative index', [-1]],
      ['wrong-typed', ['0']],
      ['more than offered', [0, 1, 1]],
    ],
  },
  {
    name: 'STATUS answer',
    codec: Messages.STATUS.response,
    valid: status,
    bad: [
      ['no events', changed(status, (c) => delete c.events)],
      ['events over their bound', { ...status, events: Array(STATUS_EVENTS_MAX + 1).fill(status.events[1]) }],
      ['a client address malformed', { ...status, clients: ['nowhere'] }],
      ['clients over their bound', { ...status, clients: Array(STATUS_CLIENTS_MAX + 1).fill('127.0.0.1:1') }],
      ['an unknown drop reason', changed(status, (c) => (c.wire.dropped.bogus = 1))],
      ['a heal counter wrong-typed', changed(status, (c) => (c.heal.pushed = '2'))],
      ['heal activity wrong-typed', changed(status, (c) => (c.heal.activity = 3))],
      ['heal activity over its bound', changed(status, (c) => (c.heal.activity = 'x'.repeat(600)))],
      ['heal activity missing', changed(status, (c) => delete c.heal.activity)],
      ['a store counter missing', changed(status, (c) => delete c.store.records)],
      ['extra field', { ...status, uptime: 5 }],
      ['extra field in immune', changed(status, (c) => (c.immune.extra = 1))],
      ['extra field in an event', changed(status, (c) => (c.events[0].extra = 1))],
      ['a malformed member', changed(status, (c) => (c.members[0].state = 'gone'))],
      ['an event detail over its bound', changed(status, (c) => (c.events[0].detail = 'x'.repeat(5000)))],
      ['a bad address', { ...status, addr: 'nowhere' }],
    ],
  },
];

for (const row of rows) {
  test(`${row.name}: a valid sample round-trips; cut short, wrong-typed, oversized and extra-field bodies are refused`, (t) => {
    const body = row.codec.encode(row.valid) as Buffer;
    t.deepEqual(row.codec.decode(body, row.context), row.valid, 'round trip');
    t.deepEqual(row.codec.decode(json(row.valid), row.context), row.valid, 'the sample as plain JSON');
    for (const cut of [0, 1, body.length >> 1, body.length - 1]) t.is(row.codec.decode(body.subarray(0, cut), row.context), null, `cut at ${cut}`);
    for (const [why, value] of row.bad) t.is(row.codec.decode(Buffer.isBuffer(value) ? value : json(value), row.context), null, why);
    // A list where an object is due, and the other way round (an empty list may be a valid answer).
    for (const other of [null, 0, 'x', true, Array.isArray(row.valid) ? {} : []]) t.is(row.codec.decode(json(other), row.context), null, JSON.stringify(other));
    t.is(row.codec.decode(Buffer.from([0xff, 0xfe, 0x00, 0x7b]), row.context), null, 'not JSON');
  });
}

test('small control messages are refused past one datagram, however well-formed', (t) => {
  const padded = { ...info, addr: '127.0.0.1:7001' };
  const body = Buffer.concat([json(padded).subarray(0, -1), Buffer.from(' '.repeat(SMALL_JSON_BYTES_MAX)), Buffer.from('}')]);
  t.is(Messages.JOIN.request.decode(body), null);
  t.deepEqual(Messages.JOIN.request.decode(json(padded)), padded);
});

test('encoders write exactly the message: a richer object loses what is not on the wire', (t) => {
  const member = { ...listed, lastHeardAtMs: 5, stateSinceMs: 6 };
  t.deepEqual(JSON.parse(Messages.MEMBERS.response.encode([member]).toString()), [listed]);
  const richer = { ...status, heal: { ...status.heal, internal: 1 }, wire: { ...status.wire, extra: 2 } } as CellStatus;
  t.deepEqual(Messages.STATUS.response.decode(Messages.STATUS.response.encode(richer) as Buffer, undefined), status);
  const many = { ...status, events: Array(STATUS_EVENTS_MAX + 5).fill(status.events[1]) };
  t.is(Messages.STATUS.response.decode(Messages.STATUS.response.encode(many) as Buffer, undefined)?.events.length, STATUS_EVENTS_MAX, 'the latest events only');
  const { clients: _, ...older } = status;
  t.deepEqual(Messages.STATUS.response.decode(json(older), undefined)?.clients, [], 'an older cell lists no clients');
});

test('a member with no intent reads as one with none, at 0', (t) => {
  const { intent: _i, intentAtMs: _a, ...bare } = info;
  t.deepEqual(Messages.JOIN.request.decode(json(bare)), info);
  t.deepEqual(Messages.JOIN.request.decode(json({ ...bare, intentAtMs: 7 })), info, 'a time without an intent is dropped');
});

test('every message type but the endpoint\'s own (fragments, KEY_MISMATCH) has its spec, under its own name', (t) => {
  const names = Object.keys(MessageType).filter((k) => Number.isNaN(Number(k)) && !k.startsWith('FRAGMENT') && k !== 'KEY_MISMATCH');
  t.deepEqual(Object.keys(Messages).sort(), names.sort());
  for (const [name, spec] of Object.entries(Messages)) t.is(spec.type, MessageType[name as keyof typeof MessageType], name);
});
