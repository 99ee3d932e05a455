import test from 'ava';
import { ChunkList, decodeManifest, encodeManifest, type Manifest } from '../../../src/client/index.js';
import { FILE_BYTES_MAX, chunkKeyOf } from '../../../src/core/index.js';

const key = (s: string) => chunkKeyOf(Buffer.from(s));
const MIB = 1 << 20;

/** A manifest's chunks as plain data: [index, key, root] of each stored chunk, in order. */
const storedOf = (m: Manifest | null) => (m ? [...m.chunks.stored()].map((c) => [c.index, c.key, c.root]) : null);

test('a chunk map names its inode; a manifest from put names none; a malformed inode is refused', (t) => {
  const map = { size: 1_500_000, chunkBytes: MIB, chunks: ChunkList.of([key('x'), null]), inode: '0a1b2c3d4e5f60718293a4b5' };
  const back = decodeManifest(encodeManifest(map));
  t.deepEqual(storedOf(back), [[0, key('x'), null]]);
  t.is(back?.inode, map.inode);
  t.is(decodeManifest(encodeManifest({ ...map, inode: undefined }))?.inode, undefined);
  const v1 = { version: 1, size: map.size, chunkBytes: map.chunkBytes, chunks: [key('x'), null] };
  t.is(decodeManifest(Buffer.from(JSON.stringify({ ...v1, inode: '../etc' }))), null);
  t.is(decodeManifest(Buffer.from(JSON.stringify({ ...v1, inode: 7 }))), null);
});

test('a file with no hole is written as version 1, byte for byte as before (a file put again keeps its id)', (t) => {
  const keys = [key('a'), key('b'), key('c')];
  const encoded = encodeManifest({ size: 2 * MIB + 5, chunkBytes: MIB, chunks: ChunkList.of(keys) });
  t.is(encoded.toString(), JSON.stringify({ version: 1, size: 2 * MIB + 5, chunkBytes: MIB, chunks: keys }));
});

test('version 1 manifests with nulls for holes (written before version 2) still read, roots and all', (t) => {
  const old = { version: 1, size: 4 * MIB, chunkBytes: MIB, chunks: [null, key('a'), null, key('b')], roots: [null, key('ra'), null, null], inode: '0a1b2c3d4e5f6071' };
  const m = decodeManifest(Buffer.from(JSON.stringify(old)));
  t.deepEqual(storedOf(m), [
    [1, key('a'), key('ra')],
    [3, key('b'), null],
  ]);
  t.is(m?.chunks.get(0), null);
  t.is(m?.chunks.get(2), null);
  // The chunk count must fit the size; roots one per chunk.
  t.is(decodeManifest(Buffer.from(JSON.stringify({ ...old, size: 5 * MIB }))), null);
  t.is(decodeManifest(Buffer.from(JSON.stringify({ ...old, roots: [null] }))), null);
});

test('a file with holes is written as version 2: runs of holes as counts, roots one per stored chunk; it reads back the same', (t) => {
  const chunks = new ChunkList();
  chunks.set(3, key('d'), key('rd'));
  chunks.set(1, key('b'));
  const m = { size: 10 * MIB - 1, chunkBytes: MIB, chunks, inode: '0a1b2c3d4e5f6071' };
  const encoded = JSON.parse(encodeManifest(m).toString());
  t.deepEqual(encoded, { version: 2, size: m.size, chunkBytes: MIB, chunks: [1, key('b'), 1, key('d'), 6], roots: [null, key('rd')], inode: m.inode });
  t.deepEqual(storedOf(decodeManifest(encodeManifest(m))), [
    [1, key('b'), null],
    [3, key('d'), key('rd')],
  ]);
  // Without roots (a large map), none is written.
  t.is(JSON.parse(encodeManifest(m, false).toString()).roots, undefined);
});

test('the largest sparse file costs a few bytes, encoded and decoded', (t) => {
  const chunks = new ChunkList();
  chunks.set(0, key('first'));
  const lastIndex = Math.ceil(FILE_BYTES_MAX / (4 * MIB)) - 1;
  chunks.set(lastIndex, key('last'));
  const encoded = encodeManifest({ size: FILE_BYTES_MAX, chunkBytes: 4 * MIB, chunks });
  t.true(encoded.length < 300, `${encoded.length} bytes`);
  const m = decodeManifest(encoded);
  t.is(m?.chunks.storedCount, 2);
  t.is(m?.chunks.get(lastIndex), key('last'));
});

test('malformed version 2 manifests are refused: runs that overrun or fall short of the size, zero or fractional runs, keys past the end', (t) => {
  const head = { version: 2, size: 4 * MIB, chunkBytes: MIB };
  const ok = (chunks: unknown[], extra = {}) => decodeManifest(Buffer.from(JSON.stringify({ ...head, chunks, ...extra }))) !== null;
  t.true(ok([key('a'), 3]));
  t.true(ok([4]));
  t.false(ok([key('a'), 4]), 'one chunk too many');
  t.false(ok([key('a'), 2]), 'one chunk short');
  t.false(ok([key('a'), 0, 3]), 'a run of 0');
  t.false(ok([key('a'), 1.5, 1.5]), 'a fractional run');
  t.false(ok([key('a'), -1, 4]), 'a negative run');
  t.false(ok([4, key('a')]), 'a key past the end');
  t.false(ok(['nope', 3]), 'not a key');
  t.false(ok([key('a'), 3], { roots: [null, null] }), 'a root per stored chunk');
  t.false(ok([key('a'), 3], { version: 3 }), 'an unknown version');
});

test('a chunk list keeps what is written, in index order however it was set, and a cut makes the rest holes', (t) => {
  const list = new ChunkList();
  for (const i of [5, 2, 9, 0]) list.set(i, key(String(i)), `r${i}`);
  t.deepEqual([...list.stored()].map((c) => c.index), [0, 2, 5, 9]);
  t.is(list.rootOf(5), 'r5');
  list.set(2, null);
  t.is(list.get(2), null);
  t.is(list.storedCount, 3);
  list.cut(6);
  t.deepEqual([...list.stored()].map((c) => c.index), [0, 5]);
  list.set(7, key('7'));
  list.set(6, key('6'));
  t.deepEqual([...list.stored()].map((c) => c.index), [0, 5, 6, 7]);
  t.deepEqual(list.keys(), new Set([key('0'), key('5'), key('6'), key('7')]));
  // A million holes cost nothing: only the set index is held.
  list.set(1_000_000_000, key('far'));
  t.is(list.storedCount, 5);
});
