import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { LocalCells } from '../../../src/client/index.js';
import { LEAF_BYTES, SimClock, chunkKeyOf, leafHashesOf, leafRootOf, machineId, systemClock, type Addr, type ChunkKey, type Clock } from '../../../src/core/index.js';
import { ChunkStore, LocalCellDisks, RecordStore, chunkFileOf } from '../../../src/store/index.js';
import type { LocalGrant } from '../../../src/wire/index.js';

const encodeJson = (value: unknown) => Buffer.from(JSON.stringify(value));
import { eventually, flipByte, tmpDir } from '../../helpers/index.js';

async function storeWith(t: import('ava').ExecutionContext, data: Buffer): Promise<{ chunkDir: string; key: ChunkKey; grant: LocalGrant; store: ChunkStore }> {
  const store = await ChunkStore.open({ dir: await tmpDir(t), capacityBytes: 64 << 20 });
  t.teardown(() => store.close());
  const key = chunkKeyOf(data);
  await store.put(key, data, { replicas: 3, isManifest: false }, leafHashesOf(data));
  const grant = { machine: machineId(), chunkDir: store.chunkDir, incomingDir: store.incomingDir, metaPath: store.metaPath };
  return { chunkDir: store.chunkDir, key, grant, store };
}

const noGrants = () => Promise.reject(new Error('no network in this test'));

/**
 * The fake grant requests below answer at once, so a background ask is over once the promise jobs queued so
 * far have run: a macrotask turn after them is its end.
 */
const asksAnswered = () => new Promise((r) => setImmediate(r));

/** The client's policy over the store's access to the cells' disks, as connectSwarm builds it; closed at the test's end. */
function localCells(t: import('ava').ExecutionContext, requestGrant: (addr: Addr) => Promise<Buffer> = noGrants, ownMount?: string, clock: Clock = systemClock): LocalCells {
  const local = new LocalCells({ disk: new LocalCellDisks(), requestGrant, clock }, { ownMount });
  t.teardown(() => local.close());
  return local;
}

test('leaves from a cell’s files are checked against leaf hashes from its metadata database (checked against the leaf root) or learnt from its answers', async (t) => {
  const data = randomBytes(3 * LEAF_BYTES + 10);
  const { grant, key, store } = await storeWith(t, data);
  const root = leafRootOf(leafHashesOf(data));
  const local = localCells(t);
  t.true(local.leaves(grant, key, root, 1, 2)?.equals(data.subarray(LEAF_BYTES, 3 * LEAF_BYTES)), 'hashes from the cell’s database');
  t.true(local.leaves(grant, key, root, 3, 4)?.equals(data.subarray(3 * LEAF_BYTES)), 'the short last leaf, none beyond');
  t.is(local.leaves(grant, key, leafRootOf(randomBytes(128)), 0, 1), null, 'hashes that do not make the root are not used');
  await flipByte(chunkFileOf(grant.chunkDir, key), 2 * LEAF_BYTES + 3);
  t.is(local.leaves(grant, key, root, 2, 1), null, 'a corrupt leaf is not returned');
  t.true(local.leaves(grant, key, root, 0, 1)?.equals(data.subarray(0, LEAF_BYTES)), 'an intact leaf still reads');

  // A chunk whose hashes the cell does not have (put without them): none locally until an answer brings them.
  const otherData = randomBytes(LEAF_BYTES * 2);
  const otherKey = chunkKeyOf(otherData);
  await store.put(otherKey, otherData);
  const otherRoot = leafRootOf(leafHashesOf(otherData));
  t.is(local.leaves(grant, otherKey, otherRoot, 0, 1), null);
  local.learnLeaves(otherKey, otherRoot, leafHashesOf(otherData));
  t.true(local.leaves(grant, otherKey, otherRoot, 1, 1)?.equals(otherData.subarray(LEAF_BYTES)));
  const older = localCells(t);
  t.is(older.leaves({ ...grant, metaPath: undefined }, otherKey, otherRoot, 0, 1), null, 'a cell that names no database: nothing known yet');
});

test('a grant is used only from a cell on this machine, and asked for once', async (t) => {
  let asked = 0;
  const grants: Record<string, unknown> = {
    '127.0.0.1:1': { machine: machineId(), chunkDir: '/data/a/chunks', incomingDir: '/data/a/incoming' },
    '127.0.0.1:2': { machine: 'elsewhere/123', chunkDir: '/data/b/chunks', incomingDir: '/data/b/incoming' },
  };
  const local = localCells(t, async (addr) => {
    asked++;
    return encodeJson(grants[addr]);
  });
  const a = { id: 'a'.repeat(32), addr: '127.0.0.1:1' };
  const b = { id: 'b'.repeat(32), addr: '127.0.0.1:2' };
  t.is(local.grantOf(a), null, 'not known yet: asked in the background');
  t.is(local.grantOf(b), null);
  await asksAnswered();
  t.is(local.grantOf(a)?.chunkDir, '/data/a/chunks');
  t.is(local.grantOf(b), null, 'a cell on another machine');
  t.is(asked, 2);

  // A grant is asked for again after a minute (a cell restarted on another directory); no answer keeps the old one.
  const clock = new SimClock();
  let dir = '/data/one';
  let answering = true;
  const refreshed = localCells(
    t,
    async () => {
      if (!answering) throw new Error('timeout');
      return encodeJson({ machine: machineId(), chunkDir: `${dir}/chunks`, incomingDir: `${dir}/incoming` });
    },
    undefined,
    clock,
  );
  refreshed.grantOf(a);
  await asksAnswered();
  t.is(refreshed.grantOf(a)?.chunkDir, '/data/one/chunks');
  dir = '/data/two';
  clock.advance(61_000);
  t.is(refreshed.grantOf(a)?.chunkDir, '/data/one/chunks', 'the old grant serves while the new one is asked for');
  await asksAnswered();
  t.is(refreshed.grantOf(a)?.chunkDir, '/data/two/chunks');
  answering = false;
  clock.advance(61_000);
  refreshed.grantOf(a);
  await asksAnswered();
  t.is(refreshed.grantOf(a)?.chunkDir, '/data/two/chunks', 'no answer is no news');

  // A mount never reads a cell whose files are inside its own mount point: it would wait for itself.
  const mounted = localCells(t, async () => encodeJson({ machine: machineId(), chunkDir: '/mnt/x/cell/chunks', incomingDir: '/mnt/x/cell/incoming' }), '/mnt/x');
  t.is(mounted.grantOf(a), null);
  await asksAnswered();
  t.is(mounted.grantOf(a), null);
});

test('a chunk handed to cells on this machine is written as a file of its own into each incoming directory, for each cell to take', async (t) => {
  const dirs = [await tmpDir(t), await tmpDir(t)];
  const local = localCells(t, async (addr) => encodeJson({ machine: machineId(), chunkDir: '/unused', incomingDir: dirs[Number(addr.split(':')[1])] }));
  const cells = [0, 1].map((i) => ({ id: String(i).repeat(32), addr: `127.0.0.1:${i}` }));
  const data = randomBytes(300_000);
  const key = chunkKeyOf(data);
  t.is((await local.stage(key, data, cells, null)).size, 0, 'no grants yet: everything goes over the network');
  await asksAnswered();
  // Written from an aligned copy (which the hashing thread reads); a small chunk gets none, and is written from its buffer.
  t.is(local.copyOf(data.subarray(0, 5000)), null);
  const copy = local.copyOf(data)!;
  t.deepEqual(await local.hashesOf(copy), { key, leafHashes: leafHashesOf(data) });
  const staged = await local.stage(key, data, cells, copy);
  local.release(copy);
  t.is(staged.size, 2);
  const [a, b] = cells.map((c) => staged.get(c.id)!);
  t.is(a!.incomingDir, dirs[0]);
  t.true(a!.take && b!.take);
  for (const s of [a!, b!]) t.true((await readFile(path.join(s.incomingDir, s.name))).equals(data));
  const [sa, sb] = await Promise.all([a!, b!].map((s) => stat(path.join(s.incomingDir, s.name))));
  t.not(sa.ino, sb.ino, 'a file each: a copy corrupted on one cell is not corrupted on the other');
  t.is(sa.nlink, 1);
  local.unstage(a!);
  await eventually(async () => (await readdir(dirs[0]!)).length === 0, 5_000, 'the staged file removed');
  t.deepEqual(await readdir(dirs[0]!), []);
});

test('warm opens a random reader’s chunk files and reads their leaf hashes in the background: range reads then need neither path', async (t) => {
  const chunks = [randomBytes(4 * LEAF_BYTES), randomBytes(2 * LEAF_BYTES + 3)];
  const stored = await Promise.all(chunks.map((data) => storeWith(t, data)));
  const roots = chunks.map((data) => leafRootOf(leafHashesOf(data)));
  const local = localCells(t);
  await local.prepare([]);
  const moveAway = (back = false) => Promise.all(stored.map(({ grant }) => (back ? rename(grant.chunkDir + '-gone', grant.chunkDir) : rename(grant.chunkDir, grant.chunkDir + '-gone'))));
  // With the cells' files and databases moved away, only what warm holds can answer. Until the hashing
  // thread is up (a moment), warm opens the files but reads no leaf hashes: then the files go back, and warm again.
  await eventually(async () => {
    await local.warm(stored.map(({ grant, key }, i) => ({ grant, key, root: roots[i]! })));
    await moveAway();
    const answered = stored.every(({ grant, key }, i) => local.leaves({ ...grant, metaPath: grant.metaPath + '-gone' }, key, roots[i]!, 0, 1) !== null);
    if (!answered) await moveAway(true);
    return answered;
  }, 5_000, 'range reads answered from what warm holds');
  for (const [i, { grant, key }] of stored.entries()) {
    const bytes = local.leaves({ ...grant, metaPath: undefined }, key, roots[i]!, 1, 2);
    t.true(bytes?.equals(chunks[i]!.subarray(LEAF_BYTES, 3 * LEAF_BYTES)), `chunk ${i}: the right leaves`);
    t.is(local.leaves(grant, key, leafRootOf(randomBytes(64)), 0, 1), null, 'another root is still refused');
  }
});

test('records merged into a granted cell’s record database are the cell’s, newer versions winning; no database is made where there is none', async (t) => {
  const dir = await tmpDir(t);
  const cellRecords = RecordStore.inDataDir(dir);
  t.teardown(() => cellRecords.close());
  const grant = { machine: machineId(), chunkDir: dir, incomingDir: dir, recordsPath: cellRecords.file };
  const local = localCells(t);
  const rec = (v: string, d: unknown) => ({ k: 'd/0000000000000001/a', v, d });
  t.deepEqual(local.mergeRecords(grant, [rec('2', { ino: 'x' })]), [{ k: rec('2', null).k, v: '2', prev: null }]);
  t.deepEqual(local.mergeRecords(grant, [rec('1', { ino: 'older' })]), [], 'nothing replaced');
  t.deepEqual(cellRecords.get('d/0000000000000001/a'), rec('2', { ino: 'x' }), 'as the cell would merge them: the newer version stays');
  const replaced = local.mergeRecords(grant, [rec('3', null)]);
  t.deepEqual(replaced, [{ k: rec('3', null).k, v: '3', prev: rec('2', { ino: 'x' }) }]);
  t.true(local.restoreRecords(grant, replaced!));
  t.deepEqual(cellRecords.get('d/0000000000000001/a'), rec('2', { ino: 'x' }), 'an undo puts back what was there, with its own version');
  t.is(local.mergeRecords({ ...grant, recordsPath: undefined }, [rec('3', null)]), null, 'an older cell names no database: the network carries them');
  const nowhere = path.join(dir, 'none', 'records.lmdb');
  t.is(local.mergeRecords({ ...grant, recordsPath: nowhere }, [rec('3', null)]), null);
  t.false(existsSync(nowhere), 'nothing made there');
});
