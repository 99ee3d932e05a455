import test from 'ava';
import { randomBytes } from 'node:crypto';
import { LEAF_BYTES, chunkKeyOf, leafHashesOf, leafRootOf, leavesMatch } from '../../../../src/core/index.js';
import {
  decodeAdopt,
  decodeCollect,
  decodeCollectReply,
  decodePut,
  decodeRangeAnswer,
  decodeRangeRequest,
  encodeAdopt,
  encodeCollect,
  encodeCollectReply,
  encodePut,
  encodeRangeAnswer,
  encodeRangeRequest,
} from '../../../../src/wire/index.js';

test('a put carries the writer\'s leaf hashes, or none; a body whose hashes do not fit its data is refused', (t) => {
  for (const size of [0, 1, LEAF_BYTES, LEAF_BYTES + 1, 1024 * 1024]) {
    const data = randomBytes(size);
    const key = chunkKeyOf(data);
    const meta = { replicas: 3, isManifest: false };
    const withLeaves = decodePut(Buffer.concat(encodePut(key, data, meta, leafHashesOf(data))));
    t.truthy(withLeaves, `size ${size}`);
    t.true(withLeaves!.data.equals(data) && withLeaves!.leafHashes!.equals(leafHashesOf(data)), `size ${size}`);
    const plain = decodePut(Buffer.concat(encodePut(key, data, meta)));
    t.true(plain!.data.equals(data) && plain!.leafHashes === null);
  }
  const data = randomBytes(LEAF_BYTES + 1);
  const short = Buffer.concat(encodePut(chunkKeyOf(data), data, { replicas: 3, isManifest: false }, leafHashesOf(data).subarray(0, 32)));
  t.is(decodePut(short), null, 'one hash for two leaves');
});

test('range requests and answers round-trip; the reader accepts exactly the leaves it asked for', (t) => {
  const data = randomBytes(2 * LEAF_BYTES + 10);
  const hashes = leafHashesOf(data);
  t.deepEqual(decodeRangeRequest(encodeRangeRequest(chunkKeyOf(data), 1, 2)), { key: chunkKeyOf(data), firstLeaf: 1, leafCount: 2 });
  t.is(decodeRangeRequest(Buffer.alloc(10)), null);
  const a = decodeRangeAnswer(encodeRangeAnswer(hashes, data.subarray(LEAF_BYTES)))!;
  t.is(leafRootOf(a.leafHashes), leafRootOf(hashes));
  t.true(leavesMatch(a.leafHashes, 1, 2, a.bytes), 'leaves 1 and 2 (the last one short)');
  t.false(leavesMatch(a.leafHashes, 1, 2, data.subarray(LEAF_BYTES, 2 * LEAF_BYTES)), 'a leaf missing from the answer is not zeros');
  const changed = Buffer.from(a.bytes);
  changed[7]! ^= 1;
  t.false(leavesMatch(a.leafHashes, 1, 2, changed), 'a changed byte');
  t.true(leavesMatch(hashes, 5, 1, Buffer.alloc(0)), 'nothing beyond the last leaf');
});

test('an adopt names one file in the incoming directory, with the put header, leaf hashes and whether to take it; other names are refused', (t) => {
  const data = randomBytes(LEAF_BYTES + 5);
  const key = chunkKeyOf(data);
  const meta = { replicas: 2, isManifest: true };
  const name = `${key}.0a1b2c3d4e5f`;
  t.deepEqual(decodeAdopt(encodeAdopt(key, meta, leafHashesOf(data), name)), { key, meta, leafHashes: leafHashesOf(data), name, take: false });
  t.deepEqual(decodeAdopt(encodeAdopt(key, meta, leafHashesOf(data), name, true)), { key, meta, leafHashes: leafHashesOf(data), name, take: true });
  t.deepEqual(decodeAdopt(encodeAdopt(key, meta, Buffer.alloc(0), name))?.leafHashes, Buffer.alloc(0));
  for (const bad of ['', '..', '.', '../x', 'a/b', '/etc/passwd', 'x'.repeat(129)]) t.is(decodeAdopt(encodeAdopt(key, meta, Buffer.alloc(0), bad)), null, JSON.stringify(bad));
  t.is(decodeAdopt(Buffer.alloc(20)), null);
});

test('a collect carries a minimum age in whole seconds and its keys; the answer one count per key; malformed bodies are refused', (t) => {
  const keys = [chunkKeyOf(Buffer.from('a')), chunkKeyOf(Buffer.from('b'))];
  t.deepEqual(decodeCollect(encodeCollect(3_600_000, keys)), { minAgeMs: 3_600_000, keys, dryRun: false });
  t.deepEqual(decodeCollect(encodeCollect(60_000, keys, true)), { minAgeMs: 60_000, keys, dryRun: true });
  t.deepEqual(decodeCollect(encodeCollect(1, keys))?.minAgeMs, 1_000, 'rounded up: never younger than asked');
  t.is(decodeCollect(encodeCollect(0, keys).subarray(0, 40)), null);
  t.is(decodeCollect(Buffer.alloc(3)), null);
  t.is(decodeCollect(Buffer.concat([Buffer.from([0x80]), encodeCollect(0, keys).subarray(1)])), null, 'unknown flags');
  t.deepEqual(decodeCollectReply(encodeCollectReply([1_048_576, 0]), 2), [1_048_576, 0]);
  t.is(decodeCollectReply(encodeCollectReply([1]), 2), null);
});
