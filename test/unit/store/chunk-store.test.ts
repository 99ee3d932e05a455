import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chown, link, open, readdir, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CellError, LEAF_BYTES, chunkKeyOf, leafHashesOf, leavesMatch, type ChunkKey } from '../../../src/core/index.js';
import { ChunkStore, chunkFileOf, type CorruptionReport } from '../../../src/store/index.js';
import { eventually, tmpDir } from '../../helpers/index.js';

const MiB = 1024 * 1024;

function chunkPath(dir: string, key: ChunkKey): string {
  return path.join(dir, 'chunks', key.slice(0, 2), key);
}

function chunk(bytes: number): { key: ChunkKey; data: Buffer } {
  const data = randomBytes(bytes);
  return { key: chunkKeyOf(data), data };
}

/** Every regular file under dir, relative paths. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath ?? e.path, e.name)));
  }
  return out.sort();
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

test('chunk files are written and read past the page cache (direct I/O): put, and adopt by a cell that copies', async (t) => {
  const root = await tmpDir(t);
  const [a, b] = await Promise.all(['a', 'b'].map((n) => ChunkStore.open({ dir: path.join(root, n), capacityBytes: 64 * MiB })));
  t.teardown(() => Promise.all([a!.close(), b!.close()]));
  const cached = (file: string) => Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }).trim());
  const put = chunk(MiB);
  t.is(await a!.put(put.key, put.data, { replicas: 3, isManifest: false }), 'stored');
  t.is(cached(chunkFileOf(a!.chunkDir, put.key)), 0);
  t.true((await a!.get(put.key)).equals(put.data));
  t.is(cached(chunkFileOf(a!.chunkDir, put.key)), 0, 'read without filling the page cache');
  const staged = chunk(MiB - 100);
  await writeFile(path.join(a!.incomingDir, 'x'), staged.data);
  await link(path.join(a!.incomingDir, 'x'), path.join(b!.incomingDir, 'x'));
  t.is(await b!.adopt('x', staged.key, { replicas: 3, isManifest: false }, null), 'stored');
  t.is(cached(chunkFileOf(b!.chunkDir, staged.key)), 0, 'the copy');
  t.true((await b!.get(staged.key)).equals(staged.data));
});

test('put then get returns identical bytes; the file on disk is named by its hash', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  const { key, data } = chunk(100_000);
  t.is(await store.put(key, data), 'stored');
  t.true(store.has(key));
  const back = await store.get(key);
  t.true(Buffer.compare(back, data) === 0, 'get returned different bytes');
  const onDisk = await readFile(chunkPath(dir, key));
  t.is(createHash('sha256').update(onDisk).digest('hex'), key);
  t.deepEqual(store.stats(), { chunks: 1, bytes: data.length, capacityBytes: 64 * MiB, corruptFound: 0, strayFound: 0 });
});

test('an empty chunk round-trips', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: MiB });
  const { key, data } = chunk(0);
  t.is(await store.put(key, data), 'stored');
  t.is((await store.get(key)).length, 0);
  t.is(store.stats().chunks, 1);
});

test('putting the same key twice returns exists and is counted once', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  const { key, data } = chunk(4096);
  t.is(await store.put(key, data), 'stored');
  t.is(await store.put(key, Buffer.from(data)), 'exists');
  t.is(store.stats().chunks, 1);
  t.is(store.stats().bytes, 4096);
  t.deepEqual([...store.keys()], [key]);
  t.deepEqual(await filesUnder(path.join(dir, 'chunks')), [path.join(key.slice(0, 2), key)]);
});

test('concurrent puts of the same key are counted once', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  const { key, data } = chunk(256 * 1024);
  const results = await Promise.all([store.put(key, data), store.put(key, data), store.put(key, data)]);
  t.deepEqual([...results].sort(), ['exists', 'exists', 'stored']);
  t.is(store.stats().chunks, 1);
  t.is(store.stats().bytes, data.length);
  t.deepEqual(await readdir(path.join(dir, 'tmp')), []);
  t.true(Buffer.compare(await store.get(key), data) === 0);
});

test('bytes that do not hash to the key are refused with HASH_MISMATCH and nothing is stored', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  const { key } = chunk(1000);
  const other = randomBytes(1000);
  const err = await t.throwsAsync(store.put(key, other));
  t.true(err instanceof CellError);
  t.is((err as CellError).code, 'HASH_MISMATCH');
  t.false(store.has(key));
  t.false(store.has(chunkKeyOf(other)));
  t.deepEqual(store.stats(), { chunks: 0, bytes: 0, capacityBytes: 64 * MiB, corruptFound: 0, strayFound: 0 });
  t.deepEqual(await filesUnder(path.join(dir, 'chunks')), []);
  t.deepEqual(await readdir(path.join(dir, 'tmp')), []);
  const nf = await t.throwsAsync(store.get(key));
  t.is((nf as CellError).code, 'CHUNK_NOT_FOUND');
});

test('a key that is not 64 hex digits is refused with BAD_REQUEST', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: MiB });
  const data = randomBytes(10);
  const err = await t.throwsAsync(store.put('../../etc/passwd', data));
  t.is((err as CellError).code, 'BAD_REQUEST');
  const upper = await t.throwsAsync(store.put(chunkKeyOf(data).toUpperCase(), data));
  t.is((upper as CellError).code, 'BAD_REQUEST');
  t.is(store.stats().chunks, 0);
});

test('a chunk corrupted on disk is detected on get, moved aside and reported', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  const reports: CorruptionReport[] = [];
  store.onCorruption((r) => reports.push(r));
  const good = chunk(8192);
  const bad = chunk(8192);
  await store.put(good.key, good.data);
  await store.put(bad.key, bad.data);

  // Flip one byte in the middle of the file, in place (same inode, same size).
  const file = chunkPath(dir, bad.key);
  const fh = await open(file, 'r+');
  const flipped = Buffer.from([bad.data[4000]! ^ 0xff]);
  await fh.write(flipped, 0, 1, 4000);
  await fh.close();
  const damaged = await readFile(file);
  const digestSeen = chunkKeyOf(damaged);
  t.not(digestSeen, bad.key);

  const err = await t.throwsAsync(store.get(bad.key));
  t.true(err instanceof CellError);
  t.is((err as CellError).code, 'CHUNK_CORRUPT');

  // Moved aside: gone from chunks/, present (with the damaged bytes) in corrupt/.
  t.false(await exists(file));
  const aside = await readdir(path.join(dir, 'corrupt'));
  t.is(aside.length, 1);
  t.true(aside[0]!.startsWith(bad.key));
  t.true(Buffer.compare(await readFile(path.join(dir, 'corrupt', aside[0]!)), damaged) === 0);

  t.is(reports.length, 1);
  t.is(reports[0]!.key, bad.key);
  t.is(reports[0]!.digestSeen, digestSeen);
  t.is(reports[0]!.movedTo, path.join(dir, 'corrupt', aside[0]!));

  t.false(store.has(bad.key));
  t.deepEqual(store.stats(), { chunks: 1, bytes: 8192, capacityBytes: 64 * MiB, corruptFound: 1, strayFound: 0 });
  // Asked again, the store still answers CORRUPT (evidence a confirmer can check), without counting it twice.
  const again = await t.throwsAsync(store.get(bad.key));
  t.is((again as CellError).code, 'CHUNK_CORRUPT');
  t.is(store.stats().corruptFound, 1);
  t.true(store.corruptKeys().has(bad.key));

  // The healthy chunk is untouched, and the corrupt one can be stored again from a good copy.
  t.true(Buffer.compare(await store.get(good.key), good.data) === 0);
  t.is(await store.put(bad.key, bad.data), 'stored');
  t.true(Buffer.compare(await store.get(bad.key), bad.data) === 0);
});

test('reads racing on one corrupt chunk count it once and report it once', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  const reports: CorruptionReport[] = [];
  store.onCorruption((r) => reports.push(r));
  const { key, data } = chunk(64 * 1024);
  await store.put(key, data);
  const damaged = Buffer.from(data);
  damaged[1000]! ^= 0xff;
  await writeFile(chunkPath(dir, key), damaged);
  const results = await Promise.allSettled([store.get(key), store.get(key), store.get(key)]);
  t.true(results.every((r) => r.status === 'rejected' && (r.reason as CellError).code === 'CHUNK_CORRUPT'));
  t.is(store.stats().corruptFound, 1);
  t.is(reports.length, 1);
});

test('a truncated chunk file is detected as corrupt too', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  const { key, data } = chunk(10_000);
  await store.put(key, data);
  await writeFile(chunkPath(dir, key), data.subarray(0, 5_000));
  const err = await t.throwsAsync(store.get(key));
  t.is((err as CellError).code, 'CHUNK_CORRUPT');
  t.false(store.has(key));
  t.is(store.stats().bytes, 0);
  t.is(store.stats().corruptFound, 1);
});

test('a put beyond capacity fails with STORE_FULL and leaves nothing behind', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 10_000 });
  const a = chunk(6_000);
  const b = chunk(6_000);
  const c = chunk(4_000);
  t.is(await store.put(a.key, a.data), 'stored');
  const err = await t.throwsAsync(store.put(b.key, b.data));
  t.true(err instanceof CellError);
  t.is((err as CellError).code, 'STORE_FULL');
  t.false(store.has(b.key));
  t.false(await exists(chunkPath(dir, b.key)));
  t.deepEqual(store.stats(), { chunks: 1, bytes: 6_000, capacityBytes: 10_000, corruptFound: 0, strayFound: 0 });
  // Exactly filling the capacity is allowed.
  t.is(await store.put(c.key, c.data), 'stored');
  t.is(store.stats().bytes, 10_000);
  const one = chunk(1);
  t.is(((await t.throwsAsync(store.put(one.key, one.data))) as CellError).code, 'STORE_FULL');
  // A duplicate of a stored chunk is still 'exists' when full: it needs no space.
  t.is(await store.put(a.key, a.data), 'exists');
});

test('concurrent puts do not overshoot capacity', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 10_000 });
  const chunks = Array.from({ length: 4 }, () => chunk(4_000));
  const results = await Promise.allSettled(chunks.map((c) => store.put(c.key, c.data)));
  const stored = results.filter((r) => r.status === 'fulfilled').length;
  const full = results.filter((r) => r.status === 'rejected' && (r.reason as CellError).code === 'STORE_FULL').length;
  t.is(stored, 2);
  t.is(full, 2);
  t.true(store.stats().bytes <= 10_000, `stored ${store.stats().bytes} bytes in a 10,000-byte store`);
  t.is((await filesUnder(path.join(dir, 'chunks'))).length, 2);
});

test('reopening finds the chunks again and removes leftover temp files', async (t) => {
  const dir = await tmpDir(t);
  const first = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  const chunks = [chunk(1), chunk(70_000), chunk(300_000), chunk(4096)];
  for (const c of chunks) await first.put(c.key, c.data);
  const total = chunks.reduce((n, c) => n + c.data.length, 0);

  // Leftovers of writes that never finished (a crash between open and rename).
  await writeFile(path.join(dir, 'tmp', `.${chunks[0]!.key}.deadbeef.tmp`), randomBytes(500));
  await writeFile(path.join(dir, 'tmp', 'half-written'), randomBytes(100));

  const second = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  t.deepEqual(second.stats(), { chunks: chunks.length, bytes: total, capacityBytes: 64 * MiB, corruptFound: 0, strayFound: 0 });
  t.deepEqual([...second.keys()].sort(), chunks.map((c) => c.key).sort());
  for (const c of chunks) {
    t.true(second.has(c.key));
    t.true(Buffer.compare(await second.get(c.key), c.data) === 0);
  }
  t.deepEqual(await readdir(path.join(dir, 'tmp')), []);
  // Capacity accounting survives the reopen too.
  const small = await ChunkStore.open({ dir, capacityBytes: total + 10 });
  const big = chunk(11);
  t.is(((await t.throwsAsync(small.put(big.key, big.data))) as CellError).code, 'STORE_FULL');
});

test('capacity 0 means the free disk space plus what is already stored', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 0 });
  const { key, data } = chunk(1000);
  t.true(store.stats().capacityBytes > 1000);
  t.is(await store.put(key, data), 'stored');
});

test('delete removes the chunk, its file and its bytes from the accounting', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 10_000 });
  const a = chunk(3_000);
  const b = chunk(5_000);
  await store.put(a.key, a.data);
  await store.put(b.key, b.data);
  t.is(store.stats().bytes, 8_000);

  t.true(await store.delete(a.key));
  t.false(store.has(a.key));
  t.false(await exists(chunkPath(dir, a.key)));
  t.deepEqual(store.stats(), { chunks: 1, bytes: 5_000, capacityBytes: 10_000, corruptFound: 0, strayFound: 0 });
  t.is(((await t.throwsAsync(store.get(a.key))) as CellError).code, 'CHUNK_NOT_FOUND');
  t.false(await store.delete(a.key));
  t.true(Buffer.compare(await store.get(b.key), b.data) === 0);

  // The freed space can be used again.
  const c = chunk(5_000);
  t.is(await store.put(c.key, c.data), 'stored');
  t.is(store.stats().bytes, 10_000);

  // And a reopen agrees.
  const again = await ChunkStore.open({ dir, capacityBytes: 10_000 });
  t.deepEqual([...again.keys()].sort(), [b.key, c.key].sort());
  t.is(again.stats().bytes, 10_000);
});

test('a chunk file deleted behind the store is reported as not found and forgotten', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: MiB });
  const { key, data } = chunk(2_000);
  await store.put(key, data);
  await unlink(chunkPath(dir, key));
  t.is(((await t.throwsAsync(store.get(key))) as CellError).code, 'CHUNK_NOT_FOUND');
  t.false(store.has(key));
  t.is(store.stats().bytes, 0);
});

test('range reads: the leaves asked for and every leaf hash; a leaf corrupted on disk is caught, and wrong writer hashes are replaced', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  t.teardown(() => store.close());
  const reports: CorruptionReport[] = [];
  store.onCorruption((r) => reports.push(r));
  const { key, data } = chunk(3 * LEAF_BYTES + 100);
  await store.put(key, data, { replicas: 3, isManifest: false }, leafHashesOf(data));
  const r = await store.getLeaves(key, 1, 2);
  t.true(r.bytes.equals(data.subarray(LEAF_BYTES, 3 * LEAF_BYTES)), 'leaves 1 and 2');
  t.true(r.leafHashes.equals(leafHashesOf(data)));
  t.true(leavesMatch(r.leafHashes, 1, 2, r.bytes));
  t.true((await store.getLeaves(key, 3, 5)).bytes.equals(data.subarray(3 * LEAF_BYTES)), 'the short last leaf; none beyond it');

  // Wrong hashes from a writer: the range falls back to the whole chunk, and the right hashes replace them.
  const other = chunk(2 * LEAF_BYTES);
  await store.put(other.key, other.data, { replicas: 3, isManifest: false }, randomBytes(64));
  const o = await store.getLeaves(other.key, 0, 1);
  t.true(o.bytes.equals(other.data.subarray(0, LEAF_BYTES)));
  t.true(o.leafHashes.equals(leafHashesOf(other.data)));

  // One byte flipped inside leaf 2: the range read finds it, and the chunk is moved aside and reported.
  const fh = await open(chunkPath(dir, key), 'r+');
  await fh.write(Buffer.from([data[2 * LEAF_BYTES + 5]! ^ 0xff]), 0, 1, 2 * LEAF_BYTES + 5);
  await fh.close();
  t.true((await store.getLeaves(key, 0, 1)).bytes.equals(data.subarray(0, LEAF_BYTES)), 'an intact leaf still reads');
  const err = await t.throwsAsync(store.getLeaves(key, 2, 1));
  t.is((err as CellError).code, 'CHUNK_CORRUPT');
  t.is(reports.length, 1);
  t.false(store.has(key) && (await exists(chunkPath(dir, key))), 'moved out of chunks/');
});

test('leaf hashes live in the metadata database: written with a put or computed at a range read, kept across a reopen; one file per chunk', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  const { key, data } = chunk(2 * LEAF_BYTES + 1);
  await store.put(key, data, { replicas: 3, isManifest: false }, leafHashesOf(data));
  t.true(store.knownLeafHashes(key)?.equals(leafHashesOf(data)), 'the writer’s hashes');
  const plain = chunk(LEAF_BYTES + 1);
  await store.put(plain.key, plain.data);
  t.is(store.knownLeafHashes(plain.key), null, 'no hashes sent: none known');
  await store.getLeaves(plain.key, 1, 1);
  await store.close();

  const again = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  t.teardown(() => again.close());
  t.true(again.knownLeafHashes(key)?.equals(leafHashesOf(data)), 'kept');
  t.true(again.knownLeafHashes(plain.key)?.equals(leafHashesOf(plain.data)), 'computed at the first range read, and kept');
  t.deepEqual((await filesUnder(again.chunkDir)).map((f) => path.basename(f)).sort(), [key, plain.key].sort());
});

test('leaf hashes in a .leaves file beside a chunk (where cells kept them before) are still used, and removed with the chunk', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  t.teardown(() => store.close());
  const { key, data } = chunk(2 * LEAF_BYTES + 1);
  await store.put(key, data);
  const leafFile = chunkFileOf(store.chunkDir, key) + '.leaves';
  await writeFile(leafFile, leafHashesOf(data));
  t.true(store.knownLeafHashes(key)?.equals(leafHashesOf(data)));
  t.true((await store.getLeaves(key, 2, 1)).bytes.equals(data.subarray(2 * LEAF_BYTES)));
  await store.delete(key);
  await eventually(async () => !(await exists(leafFile)), 5_000, 'the .leaves file removed');
  t.false(await exists(leafFile), 'removed with its chunk');
});

test('adopt by cells sharing a hard-linked file: the last link becomes its cell’s chunk, the others copy it', async (t) => {
  const root = await tmpDir(t);
  const [a, b] = await Promise.all(['a', 'b'].map((n) => ChunkStore.open({ dir: path.join(root, n), capacityBytes: 64 * MiB })));
  t.teardown(() => Promise.all([a!.close(), b!.close()]));
  const { key, data } = chunk(3 * LEAF_BYTES);
  await writeFile(path.join(a!.incomingDir, 'x'), data);
  await link(path.join(a!.incomingDir, 'x'), path.join(b!.incomingDir, 'x'));
  const staged = (await stat(path.join(a!.incomingDir, 'x'))).ino;
  const meta = { replicas: 3, isManifest: false };
  t.is(await a!.adopt('x', key, meta, leafHashesOf(data)), 'stored');
  t.is(await b!.adopt('x', key, meta, leafHashesOf(data)), 'stored');
  const [fa, fb] = [chunkFileOf(a!.chunkDir, key), chunkFileOf(b!.chunkDir, key)];
  t.not((await stat(fa)).ino, staged, 'a took a copy');
  t.is((await stat(fb)).ino, staged, 'b, holding the last link, took the file itself');
  t.is((await stat(fb)).nlink, 1);
  t.deepEqual([...(await readdir(a!.incomingDir)), ...(await readdir(b!.incomingDir))], []);
  await writeFile(fa, randomBytes(data.length));
  t.true((await b!.get(key)).equals(data), 'corrupting one copy leaves the other whole');

  // A chunk the cell has already: the staged file is removed, the chunk stays.
  await writeFile(path.join(b!.incomingDir, 'y'), data);
  t.is(await b!.adopt('y', key, meta, null), 'exists');
  t.deepEqual(await readdir(b!.incomingDir), []);
  t.true((await b!.get(key)).equals(data));
});

test('adopt at once by three cells of one hard-linked file: the cell named to take it does, the others copy it, and the file is never freed', async (t) => {
  const root = await tmpDir(t);
  const cells = await Promise.all(['a', 'b', 'c'].map((n) => ChunkStore.open({ dir: path.join(root, n), capacityBytes: 64 * MiB })));
  t.teardown(() => Promise.all(cells.map((c) => c.close())));
  const meta = { replicas: 3, isManifest: false };
  for (let round = 0; round < 5; round++) {
    const { key, data } = chunk(MiB - round);
    const name = `s${round}`;
    await writeFile(path.join(cells[0]!.incomingDir, name), data);
    for (const c of cells.slice(1)) await link(path.join(cells[0]!.incomingDir, name), path.join(c.incomingDir, name));
    const staged = (await stat(path.join(cells[0]!.incomingDir, name))).ino;
    // Without take, cells that all open the file before any drops its link all copy it, and it is freed.
    t.deepEqual(await Promise.all(cells.map((c, i) => c.adopt(name, key, meta, null, i === 1))), ['stored', 'stored', 'stored']);
    const inos = await Promise.all(cells.map(async (c) => (await stat(chunkFileOf(c.chunkDir, key))).ino));
    t.is(inos[1], staged, 'the named cell took the file itself');
    t.not(inos[0], staged);
    t.not(inos[2], staged);
    for (const c of cells) t.true((await c.get(key)).equals(data));
  }
  t.deepEqual((await Promise.all(cells.map((c) => readdir(c.incomingDir)))).flat(), []);
});

test('adopt with take of a file of its own (one link, of this user) moves it into place unread; another user\'s file is read and checked', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  t.teardown(() => store.close());
  const meta = { replicas: 3, isManifest: false };
  const { key, data } = chunk(MiB + 5);
  await writeFile(path.join(store.incomingDir, 'own'), data);
  const staged = (await stat(path.join(store.incomingDir, 'own'))).ino;
  t.is(await store.adopt('own', key, meta, leafHashesOf(data), true), 'stored');
  t.is((await stat(chunkFileOf(store.chunkDir, key))).ino, staged, 'the staged file itself');
  t.true((await store.get(key)).equals(data));
  t.true(store.knownLeafHashes(key)?.equals(leafHashesOf(data)));
  t.deepEqual(await readdir(store.incomingDir), []);
  // Unread: bytes that do not match their key are stored, and the first read finds them corrupt.
  const wrong = chunk(LEAF_BYTES + 1);
  await writeFile(path.join(store.incomingDir, 'wrong'), randomBytes(wrong.data.length));
  t.is(await store.adopt('wrong', wrong.key, meta, null, true), 'stored');
  t.is(((await t.throwsAsync(store.get(wrong.key))) as CellError).code, 'CHUNK_CORRUPT');
  if (process.getuid?.() !== 0) return t.log('not root: the other-user case needs chown');
  // Written by another user: read and checked against the key, whatever the flag says.
  const other = chunk(LEAF_BYTES * 2);
  await writeFile(path.join(store.incomingDir, 'theirs'), randomBytes(other.data.length));
  await chown(path.join(store.incomingDir, 'theirs'), 12345, 12345);
  t.is(((await t.throwsAsync(store.adopt('theirs', other.key, meta, null, true))) as CellError).code, 'HASH_MISMATCH');
  t.false(store.has(other.key));
  t.deepEqual(await readdir(store.incomingDir), []);
});

test('adopts one after another and at once, of chunks of different sizes, each store exactly their own bytes', async (t) => {
  // Staged chunks are read into reused buffers: no chunk may keep another's bytes.
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 256 * MiB });
  t.teardown(() => store.close());
  const chunks = [MiB, 3 * LEAF_BYTES + 5, MiB - 1, 100, 2 * MiB, ...Array.from({ length: 10 }, () => MiB)].map((n) => chunk(n));
  const adopt = async ({ key, data }: { key: ChunkKey; data: Buffer }, i: number) => {
    await writeFile(path.join(store.incomingDir, `c${i}`), data);
    return store.adopt(`c${i}`, key, { replicas: 3, isManifest: false }, null);
  };
  for (const [i, c] of chunks.slice(0, 5).entries()) t.is(await adopt(c, i), 'stored');
  const together = await Promise.all(chunks.slice(5).map((c, i) => adopt(c, i + 5)));
  t.true(together.every((r) => r === 'stored'));
  for (const c of chunks) t.true((await store.get(c.key)).equals(c.data));
});

test('adopt stores a file left in the incoming directory if it hashes to the key, and removes that file either way', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  t.teardown(() => store.close());
  const { key, data } = chunk(LEAF_BYTES + 3);
  await writeFile(path.join(store.incomingDir, 'a'), data);
  t.is(await store.adopt('a', key, { replicas: 3, isManifest: false }, leafHashesOf(data)), 'stored');
  t.true((await store.get(key)).equals(data));
  t.true(store.knownLeafHashes(key)?.equals(leafHashesOf(data)));
  t.deepEqual(await readdir(store.incomingDir), []);

  const other = chunk(100);
  await writeFile(path.join(store.incomingDir, 'b'), randomBytes(100));
  const err = await t.throwsAsync(store.adopt('b', other.key, { replicas: 3, isManifest: false }, null));
  t.is((err as CellError).code, 'HASH_MISMATCH');
  t.false(store.has(other.key));
  t.deepEqual(await readdir(store.incomingDir), []);
  t.is(((await t.throwsAsync(store.adopt('missing', other.key, { replicas: 3, isManifest: false }, null))) as CellError).code, 'BAD_REQUEST');
  t.is(((await t.throwsAsync(store.adopt('../chunks', other.key, { replicas: 3, isManifest: false }, null))) as CellError).code, 'BAD_REQUEST');

  // Files nobody asked to adopt are swept once old.
  await writeFile(path.join(store.incomingDir, 'old'), 'x');
  await writeFile(path.join(store.incomingDir, 'new'), 'y');
  await utimes(path.join(store.incomingDir, 'old'), new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
  t.is(await store.sweepIncoming(60_000), 1);
  t.deepEqual(await readdir(store.incomingDir), ['new']);
});

test('collect removes chunks stored or put again at least min age ago, keeps younger ones, and frees their bytes', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  t.teardown(() => store.close());
  const old = chunk(70_000);
  const claimed = chunk(50_000);
  const fresh = chunk(30_000);
  for (const c of [old, claimed, fresh]) await store.put(c.key, c.data);
  const hourAgo = new Date(Date.now() - 3_600_000);
  for (const c of [old, claimed]) await utimes(chunkPath(dir, c.key), hourAgo, hourAgo);
  // Put again (a writer reusing the chunk): it counts as new.
  t.is(await store.put(claimed.key, claimed.data), 'exists');
  const missing = chunk(10).key;

  t.deepEqual(await store.collect([old.key, claimed.key, fresh.key, missing], 600_000, true), [70_000, 0, 0, 0], 'a dry run answers the same');
  t.true(store.has(old.key), '...and removes nothing');
  t.deepEqual(await store.collect([old.key, claimed.key, fresh.key, missing], 600_000), [70_000, 0, 0, 0]);
  t.false(store.has(old.key));
  t.false(await exists(chunkPath(dir, old.key)));
  t.is(store.stats().bytes, 80_000);
  await t.throwsAsync(store.get(old.key), { instanceOf: CellError, message: /not found/ });
  t.deepEqual(await store.get(claimed.key), claimed.data);
  // Stored again after collection, it is whole again.
  t.is(await store.put(old.key, old.data), 'stored');
  t.deepEqual(await store.get(old.key), old.data);
  t.deepEqual(await store.collect([fresh.key], 0), [30_000]);
});

test('self-scrub: every chunk re-read at the given pace; a corrupt chunk it has not reached is removed quietly (NOT_FOUND, no listener), one it has passed is evidence again', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  t.teardown(() => store.close());
  const chunks = Array.from({ length: 6 }, () => chunk(1000 + Math.floor(Math.random() * 1000)));
  for (const c of chunks) await store.put(c.key, c.data);
  const sorted = [...chunks].sort((a, b) => (a.key < b.key ? -1 : 1));
  const corrupt = async (key: ChunkKey) => {
    const bytes = await readFile(chunkPath(dir, key));
    bytes[0]! ^= 0xff;
    await writeFile(chunkPath(dir, key), bytes);
  };
  // The last two in key order are corrupt before the scrub starts.
  await corrupt(sorted[4]!.key);
  await corrupt(sorted[5]!.key);
  const reports: CorruptionReport[] = [];
  store.onCorruption((r) => reports.push(r));
  const paced: number[] = [];
  let readAhead: Promise<string> | null = null;
  const result = await store.selfScrub(async (bytes) => {
    paced.push(bytes);
    // While the scrub is at its first chunk, a reader finds the last one corrupt: cleanup, not evidence.
    readAhead ??= store.get(sorted[5]!.key).then(
      () => 'read',
      (err: CellError) => err.code,
    );
    await readAhead;
  });
  t.is(await readAhead!, 'CHUNK_NOT_FOUND', 'a chunk the scrub had not reached answers not found, not corrupt');
  t.deepEqual(result, { checked: 6, removed: 2, complete: true });
  t.is(paced.length, 5, 'the chunk removed by the reader is not read again');
  t.true(paced.every((b) => b >= 4096), 'a small chunk is paced as a block at least');
  t.is(reports.length, 0, 'no corruption reported: nothing to alert about');
  t.is(store.stats().chunks, 4);
  t.is(store.stats().corruptFound, 2);
  // Once the scrub is over, a corruption is evidence as on any cell.
  await corrupt(sorted[0]!.key);
  const err = await t.throwsAsync(store.get(sorted[0]!.key));
  t.is((err as CellError).code, 'CHUNK_CORRUPT');
  t.is(reports.length, 1);
});

test('self-scrub: aborted, it stops at its next chunk and says it is not complete', async (t) => {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  t.teardown(() => store.close());
  for (let i = 0; i < 4; i++) {
    const c = chunk(500);
    await store.put(c.key, c.data);
  }
  const abort = new AbortController();
  let n = 0;
  const result = await store.selfScrub(async () => {
    if (++n === 2) abort.abort();
  }, abort.signal);
  t.false(result.complete);
  t.is(result.checked, 1);
});

test('setReplicas sets the recorded R either way (a put keeps the higher); verifiedAtMs is when a put or read last hashed the copy, not a trusted take', async (t) => {
  let wallMs = 1_000;
  const store = await ChunkStore.open({ dir: await tmpDir(t), capacityBytes: 64 * MiB, clock: { wallNow: () => wallMs } });
  t.teardown(() => store.close());
  const c = chunk(4096);
  await store.put(c.key, c.data, { replicas: 3, isManifest: true });
  t.is(store.verifiedAtMs(c.key), 1_000, 'hashed when put');
  t.true(store.setReplicas(c.key, 2));
  t.deepEqual(store.meta(c.key), { replicas: 2, isManifest: true }, 'lowered, the manifest flag kept');
  await store.put(c.key, c.data, { replicas: 1, isManifest: false });
  t.is(store.meta(c.key).replicas, 2, 'a put of a lower R keeps the higher');
  t.true(store.setReplicas(c.key, 4));
  t.is(store.meta(c.key).replicas, 4);
  t.false(store.setReplicas(chunk(10).key, 2), 'a chunk not held');

  wallMs = 5_000;
  await store.get(c.key);
  t.is(store.verifiedAtMs(c.key), 5_000, 'a whole read hashes it again');
  const taken = chunk(2048);
  await writeFile(path.join(store.incomingDir, 'x'), taken.data);
  t.is(await store.adopt('x', taken.key, { replicas: 3, isManifest: false }, null, true), 'stored');
  t.is(store.verifiedAtMs(taken.key), null, 'taken unread: not known until read');
  await store.delete(c.key);
  t.is(store.verifiedAtMs(c.key), null);
});
