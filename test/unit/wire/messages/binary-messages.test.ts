import test from 'ava';
import { randomBytes } from 'node:crypto';
import { HAS_KEYS_MAX, LEAF_BYTES, chunkKeyOf, leafHashesOf } from '../../../../src/core/index.js';
import { LIST_LIMIT_MAX, Messages, REPLICAS_MAX, encodeWhole, type Codec } from '../../../../src/wire/index.js';

/*
 * Every binary message's decoder, by table: a valid sample round-trips; the
 * body cut short, grown by a byte, or with a field out of its range decodes to
 * null. Decoders never throw, whatever the bytes.
 */

const key = (s: string) => chunkKeyOf(Buffer.from(s));
const K1 = key('a');
const K2 = key('b');
const data = randomBytes(LEAF_BYTES + 7);
const meta = { replicas: 3, isManifest: false };

interface Row {
  name: string;
  codec: Codec<any, any>;
  context?: unknown;
  valid: unknown;
  /** Whether a byte more is refused (a body that ends in data of any length takes it). */
  exactLength: boolean;
  bad: [string, Buffer][];
}

/** The valid sample's body with one byte set. */
const withByte = (codec: Codec<any, any>, value: unknown, at: number, byte: number) => {
  const b = Buffer.from(encodeWhole(codec, value));
  b[at] = byte;
  return b;
};

const put = { key: chunkKeyOf(data), meta, data, leafHashes: leafHashesOf(data) };
const info1 = { isHeld: true, isManifest: false, replicas: 3, verifiedAtMs: null };
const adopt = { key: K1, meta: { replicas: 2, isManifest: true }, leafHashes: leafHashesOf(data), name: `${K1}.0a1b`, take: true };

const rows: Row[] = [
  { name: 'PING request', codec: Messages.PING.request, valid: undefined, exactLength: true, bad: [] },
  { name: 'CHUNK_GET request', codec: Messages.CHUNK_GET.request, valid: K1, exactLength: true, bad: [] },
  { name: 'CHUNK_DELETE answer', codec: Messages.CHUNK_DELETE.response, context: K1, valid: true, exactLength: true, bad: [['a byte of 2', Buffer.from([2])]] },
  {
    name: 'CHUNK_HAS request',
    codec: Messages.CHUNK_HAS.request,
    valid: [K1, K2],
    exactLength: true,
    bad: [
      ['a count that does not match', withByte(Messages.CHUNK_HAS.request, [K1, K2], 1, 3)],
      ['over its bound', Buffer.concat([Buffer.from([(HAS_KEYS_MAX + 1) >> 8, (HAS_KEYS_MAX + 1) & 0xff]), Buffer.alloc((HAS_KEYS_MAX + 1) * 32)])],
    ],
  },
  {
    name: 'CHUNK_CLAIM answer',
    codec: Messages.CHUNK_CLAIM.response,
    context: Array(9).fill(K1),
    valid: [true, false, false, false, false, false, false, false, true],
    exactLength: true,
    bad: [['one byte for nine keys', Buffer.alloc(1)]],
  },
  {
    name: 'CHUNK_LIST request',
    codec: Messages.CHUNK_LIST.request,
    valid: { after: K1, limit: LIST_LIMIT_MAX },
    exactLength: true,
    bad: [
      ['a limit of 0', withByte(Messages.CHUNK_LIST.request, { after: null, limit: 1 }, 33, 0)],
      ['a limit over its bound', Buffer.concat([Buffer.alloc(32), Buffer.from([0xff, 0xff])])],
    ],
  },
  {
    name: 'CHUNK_LIST answer',
    codec: Messages.CHUNK_LIST.response,
    context: { after: null, limit: 2 },
    valid: [
      { key: K1, meta: { replicas: 3, isManifest: true } },
      { key: K2, meta: { replicas: 1, isManifest: false } },
    ],
    exactLength: true,
    bad: [
      ['more than asked for', encodeWhole(Messages.CHUNK_LIST.response, Array(3).fill({ key: K1, meta }))],
      ['a count that does not match', withByte(Messages.CHUNK_LIST.response, [{ key: K1, meta }], 1, 2)],
    ],
  },
  {
    name: 'CHUNK_RANGE request',
    codec: Messages.CHUNK_RANGE.request,
    valid: { key: K1, firstLeaf: 3, leafCount: 2 },
    exactLength: true,
    bad: [['no leaves', withByte(Messages.CHUNK_RANGE.request, { key: K1, firstLeaf: 3, leafCount: 1 }, 35, 0)]],
  },
  {
    name: 'CHUNK_RANGE answer',
    codec: Messages.CHUNK_RANGE.response,
    context: { key: K1, firstLeaf: 0, leafCount: 1 },
    valid: { leafHashes: leafHashesOf(data), bytes: data.subarray(0, LEAF_BYTES) },
    exactLength: false,
    bad: [['more hashes than bytes', Buffer.from([0xff, 0xff, 1, 2, 3])]],
  },
  {
    name: 'CHUNK_COLLECT request',
    codec: Messages.CHUNK_COLLECT.request,
    valid: { minAgeMs: 60_000, keys: [K1], dryRun: true },
    exactLength: true,
    bad: [['unknown flags', withByte(Messages.CHUNK_COLLECT.request, { minAgeMs: 0, keys: [K1], dryRun: false }, 0, 0x80)]],
  },
  { name: 'CHUNK_COLLECT answer', codec: Messages.CHUNK_COLLECT.response, context: { minAgeMs: 0, keys: [K1, K2], dryRun: false }, valid: [4096, 0], exactLength: true, bad: [] },
  {
    name: 'CHUNK_PUT request',
    codec: Messages.CHUNK_PUT.request,
    valid: put,
    exactLength: false,
    bad: [
      ['no replicas', withByte(Messages.CHUNK_PUT.request, put, 33, 0)],
      ['replicas over their bound', withByte(Messages.CHUNK_PUT.request, put, 33, REPLICAS_MAX + 1)],
      ['unknown flags', withByte(Messages.CHUNK_PUT.request, put, 32, 0x80)],
      ['leaf hashes that do not fit the data', Buffer.concat(Messages.CHUNK_PUT.request.encode({ ...put, leafHashes: put.leafHashes.subarray(0, 32) }) as Buffer[])],
    ],
  },
  {
    name: 'CHUNK_ADOPT request',
    codec: Messages.CHUNK_ADOPT.request,
    valid: adopt,
    exactLength: false,
    bad: [
      ['a path for a name', encodeWhole(Messages.CHUNK_ADOPT.request, { ...adopt, name: '../x' })],
      ['a name over its bound', encodeWhole(Messages.CHUNK_ADOPT.request, { ...adopt, name: 'x'.repeat(129) })],
      ['no name', encodeWhole(Messages.CHUNK_ADOPT.request, { ...adopt, name: '' })],
    ],
  },
  {
    name: 'CHUNK_INFO answer',
    codec: Messages.CHUNK_INFO.response,
    context: [K1, K2],
    valid: [
      { isHeld: true, isManifest: true, replicas: 2, verifiedAtMs: 1_765_000_000_123 },
      { isHeld: false, isManifest: false, replicas: 0, verifiedAtMs: null },
    ],
    exactLength: true,
    bad: [
      ['unknown flags', withByte(Messages.CHUNK_INFO.response, [info1, info1], 0, 0x81)],
      ['held with no R', withByte(Messages.CHUNK_INFO.response, [info1, info1], 1, 0)],
      ['R over its bound', withByte(Messages.CHUNK_INFO.response, [info1, info1], 1, REPLICAS_MAX + 1)],
      ['an R for a chunk not held', withByte(Messages.CHUNK_INFO.response, [info1, info1], 0, 0)],
    ],
  },
  {
    name: 'CHUNK_SET_R request',
    codec: Messages.CHUNK_SET_R.request,
    valid: { replicas: 2, keys: [K1, K2] },
    exactLength: true,
    bad: [
      ['R 0', withByte(Messages.CHUNK_SET_R.request, { replicas: 2, keys: [K1] }, 0, 0)],
      ['R over its bound', withByte(Messages.CHUNK_SET_R.request, { replicas: 2, keys: [K1] }, 0, REPLICAS_MAX + 1)],
    ],
  },
  { name: 'CHUNK_SET_R answer', codec: Messages.CHUNK_SET_R.response, context: { replicas: 1, keys: [K1, K2] }, valid: [true, false], exactLength: true, bad: [] },
  { name: 'an empty answer (CHUNK_PUT)', codec: Messages.CHUNK_PUT.response, context: put, valid: undefined, exactLength: true, bad: [] },
];

for (const row of rows) {
  test(`${row.name}: a valid sample round-trips; cut short, too long and out-of-range bodies are refused`, (t) => {
    const body = encodeWhole(row.codec, row.valid);
    t.deepEqual(row.codec.decode(body, row.context), row.valid, 'round trip');
    if (body.length > 1) t.is(row.codec.decode(body.subarray(0, 1), row.context), null, 'one byte');
    if (row.exactLength && body.length > 0) t.is(row.codec.decode(body.subarray(0, body.length - 1), row.context), null, 'one byte short');
    if (row.exactLength) t.is(row.codec.decode(Buffer.concat([body, Buffer.from([0])]), row.context), null, 'one byte more');
    for (const [why, bad] of row.bad) t.is(row.codec.decode(bad, row.context), null, why);
    for (let i = 0; i < 200; i++) t.notThrows(() => row.codec.decode(randomBytes(i % 50), row.context));
  });
}

test('a chunk put decodes to views of its body: the data is not copied', (t) => {
  const body = encodeWhole(Messages.CHUNK_PUT.request, put);
  const decoded = Messages.CHUNK_PUT.request.decode(body)!;
  t.is(decoded.data.buffer, body.buffer);
  t.is(Messages.CHUNK_GET.response.decode(body, K1), body, 'a chunk answer is the body itself');
  const parts = Messages.CHUNK_PUT.request.encode(put) as Buffer[];
  t.is(parts[parts.length - 1], data, 'and encodes to parts that end with the data itself');
});
