import test from 'ava';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chunkKeyOf, isCellError, type ChunkKey } from '../../../src/core/index.js';
import { ChunkStore, RecordStore, cellLayoutOf, chunkFileOf, type CorruptionReport } from '../../../src/store/index.js';
import { lmdbHeaderProblem, lmdbProblem } from '../../../src/store/db-check.js';
import { LmdbFile } from '../../../src/store/lmdb-file.js';
import { eventually, tmpDir } from '../../helpers/index.js';

const MiB = 1024 * 1024;
const PAGE = 4096;

/** A records database of n records, closed: a real lmdb file to damage copies of. */
async function realDatabase(dir: string, n: number): Promise<string> {
  const store = new RecordStore(path.join(dir, 'real.lmdb'));
  const records = Array.from({ length: n }, (_, i) => ({ k: `i/${i.toString(16).padStart(16, '0')}`, v: `v${i}`, d: { type: 'file', size: i, manifest: 'ab'.repeat(32) } }));
  for (let i = 0; i < n; i += 1000) store.merge(records.slice(i, i + 1000));
  await store.close();
  return store.file;
}

/** A copy of file with `damage` done to it. */
async function damagedCopy(file: string, name: string, damage: (copy: string) => Promise<void>): Promise<string> {
  const copy = path.join(path.dirname(file), name);
  await copyFile(file, copy);
  await damage(copy);
  return copy;
}

async function overwrite(file: string, position: number, bytes: Buffer): Promise<void> {
  const fh = await open(file, 'r+');
  await fh.write(bytes, 0, bytes.length, position);
  await fh.close();
}

test('a sound lmdb file passes both checks; a missing or empty one is no problem (lmdb makes a new database)', async (t) => {
  const dir = await tmpDir(t);
  const file = await realDatabase(dir, 2000);
  t.is(lmdbHeaderProblem(file), null);
  t.is(await lmdbProblem(file), null);
  t.is(await lmdbProblem(path.join(dir, 'none.lmdb')), null);
  await writeFile(path.join(dir, 'empty.lmdb'), '');
  t.is(await lmdbProblem(path.join(dir, 'empty.lmdb')), null);
});

test('truncated and garbage lmdb files are named by the header check, before lmdb maps them', async (t) => {
  const dir = await tmpDir(t);
  const file = await realDatabase(dir, 2000);
  const cases: [string, (f: string) => Promise<void>, RegExp][] = [
    ['to 100 bytes', (f) => truncate(f, 100), /truncated/],
    ['to one page', (f) => truncate(f, PAGE), /truncated/],
    ['to two pages', (f) => truncate(f, 2 * PAGE), /truncated/],
    ['garbage', (f) => writeFile(f, randomBytes(8 * PAGE)), /not an lmdb database/],
    ['garbage second meta page', (f) => overwrite(f, PAGE, randomBytes(PAGE)), /not an lmdb database/],
    ['zeroed first page', (f) => overwrite(f, 0, Buffer.alloc(PAGE)), /not an lmdb database/],
  ];
  for (const [name, damage, why] of cases) {
    const copy = await damagedCopy(file, `${name.replace(/ /g, '-')}.lmdb`, damage);
    t.regex(lmdbHeaderProblem(copy) ?? 'null', why, name);
    t.regex((await lmdbProblem(copy)) ?? 'null', why, name);
    // Opening one in this process would have been a SIGSEGV: it is refused with an error instead.
    const err = t.throws(() => new RecordStore(copy), undefined, name);
    t.true(isCellError(err, 'BAD_CONFIG'), name);
  }
});

test('garbage in the pages of a database with a sound header is found by the walk in a child process (which may crash: this one does not)', async (t) => {
  const dir = await tmpDir(t);
  const file = await realDatabase(dir, 20_000);
  const { size } = await open(file, 'r').then(async (fh) => {
    const st = await fh.stat();
    await fh.close();
    return st;
  });
  const pages = Math.floor(size / PAGE);
  // Pages spread over the file, leaves and branches alike.
  for (const page of [2, 3, Math.floor(pages / 3), Math.floor(pages / 2), pages - 3]) {
    const copy = await damagedCopy(file, `page-${page}.lmdb`, (f) => overwrite(f, page * PAGE, randomBytes(2 * PAGE)));
    t.is(lmdbHeaderProblem(copy), null, `page ${page}: the header is sound`);
    t.truthy(await lmdbProblem(copy), `page ${page}: the walk finds the damage`);
  }
});

test('a store opened on a garbage meta.lmdb sets it aside, says so in one line, and rebuilds it from the chunk files: leaf hashes and the manifest flag', async (t) => {
  const dir = await tmpDir(t);
  const first = await ChunkStore.open({ dir, capacityBytes: 64 * MiB, defaultReplicas: 3 });
  const data = randomBytes(100_000);
  const key = chunkKeyOf(data);
  const manifest = Buffer.from(JSON.stringify({ version: 1, size: data.length, chunkBytes: 4 * MiB, chunks: [key] }));
  const manifestKey = chunkKeyOf(manifest);
  await first.put(key, data, { replicas: 3, isManifest: false });
  await first.put(manifestKey, manifest, { replicas: 3, isManifest: true });
  await first.close();
  const { metaPath, corruptDir } = cellLayoutOf(dir);
  await writeFile(metaPath, randomBytes(3 * PAGE));

  const repairs: string[] = [];
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB, defaultReplicas: 3, onRepair: (line) => repairs.push(line) });
  t.teardown(() => store.close());
  t.is(repairs.length, 1);
  t.regex(repairs[0]!, /meta\.lmdb \(chunk metadata\) is not an lmdb database .*moved to .*corrupt.*rebuilding it from the 2 chunk files/);
  t.false(repairs[0]!.includes('\n'), 'one line');
  t.throws(() => store.list(null, 10), { code: 'BUSY' }, 'not listed while manifest flags are unknown');
  t.true((await readdir(corruptDir)).some((n) => n.startsWith('meta.lmdb.')), 'the damaged file is kept aside');
  t.true((await store.get(key)).equals(data), 'the chunks are still served');
  await eventually(() => store.meta(manifestKey).isManifest && store.knownLeafHashes(key) !== null, 10_000, 'metadata rebuilt');
  await eventually(() => store.list(null, 10).length === 2, 10_000, 'listed again once rebuilt');
  t.false(store.meta(key).isManifest);
  t.is(store.meta(key).replicas, 3);
});

test('a damaged database found in use is set aside and replaced by an empty one; the operation that met it throws', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'records.lmdb');
  const replaced: string[] = [];
  const db = new LmdbFile<number, string>(file, { compression: false, noSync: true }, { asideDir: dir, onReplaced: (r) => replaced.push(r.why) });
  t.teardown(() => db.close());
  db.use((d) => d.putSync('a', 1));
  // What lmdb throws when a page it follows is garbage.
  const damage = new Error('MDB_PAGE_NOTFOUND: Requested page not found');
  t.throws(() => db.use(() => {
    throw damage;
  }), { is: damage });
  t.deepEqual(replaced, ['failed in use (MDB_PAGE_NOTFOUND: Requested page not found)']);
  t.is(db.use((d) => d.get('a')), undefined, 'a new, empty database');
  db.use((d) => d.putSync('b', 2));
  t.is(db.use((d) => d.get('b')), 2);
  t.true((await readdir(dir)).some((n) => n.startsWith('records.lmdb.')), 'the damaged one set aside');
  // Other errors are only thrown.
  t.throws(() => db.use(() => {
    throw new Error('MDB_MAP_FULL: Environment mapsize limit reached');
  }));
  t.is(replaced.length, 1);
});

/** A store holding one chunk, and that chunk's file. */
async function storeWithChunk(t: Parameters<typeof tmpDir>[0]): Promise<{ dir: string; store: ChunkStore; key: ChunkKey; file: string }> {
  const dir = await tmpDir(t);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 * MiB });
  const data = randomBytes(50_000);
  const key = chunkKeyOf(data);
  await store.put(key, data);
  return { dir, store, key, file: chunkFileOf(store.chunkDir, key) };
}

test('at open, what in the chunk tree is not a chunk file is counted, reported in one line and moved aside, never held', async (t) => {
  const { dir, store, key, file } = await storeWithChunk(t);
  await store.close();
  await rm(file);
  await mkdir(file);
  const chunkDir = cellLayoutOf(dir).chunkDir;
  await writeFile(path.join(chunkDir, 'stray-file'), 'x');
  await writeFile(path.join(chunkDir, key.slice(0, 2), 'not-a-key'), 'x');
  const wrongFanOut = path.join(chunkDir, key.startsWith('00') ? '01' : '00');
  await mkdir(wrongFanOut, { recursive: true });
  await writeFile(path.join(wrongFanOut, 'f'.repeat(64)), 'x');

  const repairs: string[] = [];
  const reopened = await ChunkStore.open({ dir, capacityBytes: 64 * MiB, onRepair: (line) => repairs.push(line) });
  t.teardown(() => reopened.close());
  t.false(reopened.has(key), 'a directory with a chunk\'s name is not a chunk');
  t.is(reopened.stats().chunks, 0);
  t.is(reopened.stats().strayFound, 4);
  t.is(repairs.length, 1);
  t.regex(repairs[0]!, /entries in .* were not chunk files \(.*a directory/);
  t.deepEqual(reopened.list(null, 100), []);
  t.deepEqual((await readdir(cellLayoutOf(dir).corruptDir)).filter((n) => n.startsWith('stray.')).length, 4, 'all moved aside');
});

test('a chunk file replaced by a directory while the cell runs: not listed, reported as corruption, and read as CHUNK_CORRUPT', async (t) => {
  const { store, key, file } = await storeWithChunk(t);
  t.teardown(() => store.close());
  const reports: CorruptionReport[] = [];
  store.onCorruption((r) => reports.push(r));
  await rm(file);
  await mkdir(file);
  t.deepEqual(store.list(null, 100), [], 'fsck and the scrub no longer count it');
  await eventually(() => reports.length === 1, 5_000, 'corruption reported');
  t.is(reports[0]!.key, key);
  await t.throwsAsync(store.get(key), { code: 'CHUNK_CORRUPT' });
  t.is(store.stats().chunks, 0);
  t.is(store.stats().corruptFound, 1);
});

test('a chunk file replaced by a directory is found by a read too (the scrub fetches every chunk): CHUNK_CORRUPT, moved aside', async (t) => {
  const { store, key, file } = await storeWithChunk(t);
  t.teardown(() => store.close());
  const reports: CorruptionReport[] = [];
  store.onCorruption((r) => reports.push(r));
  await rm(file);
  await mkdir(file);
  await t.throwsAsync(store.get(key), { code: 'CHUNK_CORRUPT' });
  t.is(reports.length, 1);
  t.regex(reports[0]!.digestSeen, /unreadable \(EISDIR\)/);
  t.false(store.has(key));
  // Healing can store the chunk again under its name.
  const data = randomBytes(10);
  await t.notThrowsAsync(store.put(chunkKeyOf(data), data));
});
