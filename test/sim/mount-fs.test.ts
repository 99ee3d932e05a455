import test, { type ExecutionContext } from 'ava';
import { chunkKeyOf, type ChunkKey, type Rng } from '../../src/core/index.js';
import type { FsOptions, SwarmFs } from '../../src/mount/fs/index.js';
import { O, SIM_CHUNK_BYTES, mountSimFs, readFile, readRange, writeAll, writeFile, type SimMount } from '../helpers/sim-fs.js';
import { createSimSwarm, simSeeds, type SimSwarm } from '../helpers/sim-swarm.js';

/*
 * The mount's logic through the file system facade (SwarmFs, no FUSE) on a
 * simulated swarm: what a user of the mount sees, checked against a
 * reference where it helps. Chunks are 64 KiB (SIM_CHUNK_BYTES), so files
 * of several chunks stay small; files up to 4 KiB are inline.
 */

const CHUNK = SIM_CHUNK_BYTES;
const INLINE_MAX = 4 * 1024;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;

/** A swarm of `cells` storage cells and one mount on it. */
async function swarmWithMount(t: ExecutionContext, seed: number, change?: (o: FsOptions) => void): Promise<{ swarm: SimSwarm; m: SimMount; fs: SwarmFs }> {
  const swarm = await createSimSwarm(t, { cells: 4, seed });
  const m = await mountSimFs(t, swarm, change);
  return { swarm, m, fs: m.fs };
}

/** Asserts that p rejects with a CellError of the code. */
async function rejectsWith(t: ExecutionContext, p: Promise<unknown>, code: string, what: string): Promise<void> {
  await t.throwsAsync(p, { code }, what);
}

// ---- contents ----

test.serial('files small (inline) and large (several chunks) are read back byte-exact, by this mount and another', async (t) => {
  const { swarm, fs } = await swarmWithMount(t, 101);
  const sizes = [0, 1, 100, INLINE_MAX, INLINE_MAX + 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12_345];
  const files = sizes.map((size, i) => ({ path: `/f${i}`, data: swarm.bytes(size) }));
  for (const { path, data } of files) await writeFile(fs, path, data);
  const other = await mountSimFs(t, swarm);
  for (const { path, data } of files) {
    t.true((await readFile(fs, path)).equals(data), `${path} (${data.length} bytes) here`);
    t.true((await readFile(other.fs, path)).equals(data), `${path} (${data.length} bytes) on another mount`);
    t.is((await other.fs.getattr(path)).size, data.length);
  }
  // The large one is in chunks on the cells: 4 chunks and a chunk map, each on R cells.
  const stored = swarm.cells.reduce((n, c) => n + c.store.stats().chunks, 0);
  t.true(stored >= 5 * swarm.config.placement.replicas, `${stored} chunk copies stored`);
});

test.serial('a write into a stored chunk is patched in the order written: overlapping writes after a flush read back as the last one wins', async (t) => {
  const { swarm, fs } = await swarmWithMount(t, 102);
  const data = swarm.bytes(2 * CHUNK + 500);
  await writeFile(fs, '/p', data);
  const other = await mountSimFs(t, swarm);
  // A fresh mount holds nothing of the file: its writes into the stored chunks are kept as patches.
  const fd = await other.fs.open('/p', O.RDWR);
  const expected = Buffer.from(data);
  const writes: [number, string][] = [
    [100, 'AAAAAAAA'],
    [102, 'BBBB'],
    [103, 'C'],
    [CHUNK + 10, 'DDDD'],
    [CHUNK + 8, 'EEEEEE'],
  ];
  for (const [at, s] of writes) {
    await other.fs.write(fd, Buffer.from(s), s.length, at);
    expected.write(s, at);
  }
  t.true((await readRange(other.fs, fd, 0, expected.length)).equals(expected), 'read through the handle before close');
  await other.fs.release(fd);
  t.true((await readFile(fs, '/p')).equals(expected), 'read by the first mount after close');
});

/** A seeded random run of writes (sequential and scattered), appends, truncates, flushes, reopens and reads on one file, checked at each read against a buffer. */
for (const seed of simSeeds(6, 110)) {
  // Odd seeds with a write-back budget of two chunks: dirty chunks are stored early, while the file is written.
  const budget = seed % 2 === 1 ? 2 * CHUNK : null;
  test.serial(`random writes, appends, truncates and reads of one file match a reference buffer (seed ${seed}${budget ? ', small write-back budget' : ''})`, async (t) => {
    const { swarm, fs } = await swarmWithMount(t, seed, (o) => {
      if (budget) o.writebackBytesMax = budget;
    });
    const rng = swarm.rng;
    const SIZE_MAX = 6 * CHUNK;
    let ref = Buffer.alloc(0);
    let fd = await fs.create('/r', 0o644);
    let appender: number | null = null;
    const setRef = (at: number, bytes: Buffer) => {
      if (at + bytes.length > ref.length) ref = Buffer.concat([ref, Buffer.alloc(at + bytes.length - ref.length)]);
      bytes.copy(ref, at);
    };
    const counts: Record<string, number> = {};
    const hotSpots = [rng.int(CHUNK), CHUNK + rng.int(CHUNK), rng.int(SIZE_MAX)];
    for (let step = 0; step < 80; step++) {
      const op = pick(rng, ['write', 'write', 'small', 'small', 'small', 'append', 'truncate', 'read', 'read', 'flush', 'reopen']);
      counts[op] = (counts[op] ?? 0) + 1;
      if (op === 'write') {
        // Sequential from where the file ends, or anywhere (holes past the end included).
        const at = rng.int(2) === 0 ? ref.length : rng.int(Math.min(SIZE_MAX, ref.length + CHUNK));
        const bytes = swarm.bytes(1 + rng.int(Math.min(2 * CHUNK, SIZE_MAX - Math.min(at, SIZE_MAX - 1))));
        await writeAll(fs, fd, bytes, at, 1 + rng.int(CHUNK));
        setRef(at, bytes);
      } else if (op === 'small') {
        // A few bytes inside the file, often over an earlier one: a patch when its chunk is stored and not dirty.
        const at = Math.min(rng.int(3) === 0 ? rng.int(Math.max(1, ref.length)) : pick(rng, hotSpots) + rng.int(16), Math.max(0, ref.length - 1));
        const bytes = swarm.bytes(1 + rng.int(64));
        await fs.write(fd, bytes, bytes.length, at);
        setRef(at, bytes);
      } else if (op === 'append') {
        appender ??= await fs.open('/r', O.WRONLY | O.APPEND);
        const bytes = swarm.bytes(1 + rng.int(CHUNK / 2));
        // The position is ignored: O_APPEND writes at the end.
        await fs.write(appender, bytes, bytes.length, 0);
        setRef(ref.length, bytes);
      } else if (op === 'truncate') {
        const size = rng.int(Math.min(SIZE_MAX, ref.length + CHUNK) + 1);
        await fs.ftruncate(fd, size);
        ref = size <= ref.length ? Buffer.from(ref.subarray(0, size)) : Buffer.concat([ref, Buffer.alloc(size - ref.length)]);
      } else if (op === 'read') {
        const at = rng.int(ref.length + 1);
        const length = rng.int(2 * CHUNK);
        const got = await readRange(fs, fd, at, length, 1 + rng.int(CHUNK));
        t.true(got.equals(ref.subarray(at, at + length)), `step ${step}: read of ${length} at ${at} (size ${ref.length})`);
      } else if (op === 'flush') {
        await fs.flush(fd);
      } else {
        await fs.release(fd);
        if (appender !== null) await fs.release(appender);
        appender = null;
        if (rng.int(2) === 0) fs.dropCaches();
        fd = await fs.open('/r', O.RDWR);
      }
      t.is((await fs.fgetattr(fd)).size, ref.length, `step ${step} (${op}): size`);
    }
    await fs.release(fd);
    if (appender !== null) await fs.release(appender);
    const other = await mountSimFs(t, swarm);
    t.true((await readFile(other.fs, '/r')).equals(ref), 'the file as another mount reads it after close');
    t.true((await readFile(fs, '/r')).equals(ref), 'the file as this mount reads it after close');
    t.log(`${ref.length} bytes; ops ${JSON.stringify(counts)}`);
  });
}

// ---- names ----

test.serial('namespace: mkdir -p trees, readdir, rename (over a file, into another directory, refused below itself), error codes', async (t) => {
  const { swarm, fs } = await swarmWithMount(t, 120);
  const mkdirP = async (path: string) => {
    let at = '';
    for (const part of path.split('/').filter(Boolean)) {
      at += `/${part}`;
      await fs.mkdir(at, 0o755).catch((err: { code?: string }) => {
        if (err.code !== 'ENTRY_EXISTS') throw err;
      });
    }
  };
  await mkdirP('/a/b/c/d');
  await mkdirP('/a/b/e');
  await mkdirP('/x');
  t.deepEqual((await fs.readdir('/a/b')).sort(), ['.', '..', 'c', 'e']);
  t.is((await fs.getattr('/a/b/c/d')).type, 'dir');
  await rejectsWith(t, fs.mkdir('/a/b', 0o755), 'ENTRY_EXISTS', 'mkdir of an existing directory');
  await rejectsWith(t, fs.mkdir('/nope/y', 0o755), 'NO_ENTRY', 'mkdir below a missing directory');

  await writeFile(fs, '/a/b/f1', Buffer.from('one'));
  await writeFile(fs, '/a/b/f2', Buffer.from('two two'));
  // A file over a file: the target is replaced, the source name gone.
  await fs.rename('/a/b/f1', '/a/b/f2');
  t.is((await readFile(fs, '/a/b/f2')).toString(), 'one');
  await rejectsWith(t, fs.getattr('/a/b/f1'), 'NO_ENTRY', 'the renamed name');
  // A directory into another, with what is below it.
  await fs.rename('/a/b/c', '/x/c');
  t.is((await fs.getattr('/x/c/d')).type, 'dir');
  t.deepEqual((await fs.readdir('/a/b')).sort(), ['.', '..', 'e', 'f2']);
  t.deepEqual((await fs.readdir('/x')).sort(), ['.', '..', 'c']);
  // Refused: a directory below itself, into itself.
  await rejectsWith(t, fs.rename('/x', '/x/c/d/x'), 'INVALID_ARGUMENT', 'a directory moved below itself');
  await rejectsWith(t, fs.rename('/x', '/x/x'), 'INVALID_ARGUMENT', 'a directory moved into itself');
  // Type and emptiness codes.
  await writeFile(fs, '/x/c/d/g', Buffer.from('g'));
  await rejectsWith(t, fs.rename('/a/b/e', '/x/c'), 'DIRECTORY_NOT_EMPTY', 'a directory over a non-empty one');
  await rejectsWith(t, fs.rename('/a/b/e', '/a/b/f2'), 'NOT_A_DIRECTORY', 'a directory over a file');
  await rejectsWith(t, fs.rename('/a/b/f2', '/a/b/e'), 'IS_A_DIRECTORY', 'a file over a directory');
  await rejectsWith(t, fs.rmdir('/x/c'), 'DIRECTORY_NOT_EMPTY', 'rmdir of a non-empty directory');
  await rejectsWith(t, fs.rmdir('/a/b/f2'), 'NOT_A_DIRECTORY', 'rmdir of a file');
  await rejectsWith(t, fs.unlink('/a/b/e'), 'IS_A_DIRECTORY', 'unlink of a directory');
  await rejectsWith(t, fs.readdir('/a/b/f2'), 'NOT_A_DIRECTORY', 'readdir of a file');
  await rejectsWith(t, fs.open('/a', O.RDWR), 'IS_A_DIRECTORY', 'a directory opened for writing');
  await rejectsWith(t, fs.create('/a/b/f2/z', 0o644), 'NOT_A_DIRECTORY', 'a file created below a file');
  await rejectsWith(t, fs.create('/a/b/f2', 0o644), 'ENTRY_EXISTS', 'create of an existing name');
  await rejectsWith(t, fs.link('/a/b', '/a/b/f3'), 'NOT_PERMITTED', 'a hard link of a directory');
  // A directory over an empty one: allowed, the old one gone.
  await fs.mkdir('/empty', 0o755);
  await fs.rename('/a/b/e', '/empty');
  t.false((await fs.readdir('/a/b')).includes('e'));
  await fs.rmdir('/empty');
  await fs.unlink('/x/c/d/g');
  await fs.rmdir('/x/c/d');
  t.deepEqual((await fs.readdir('/x/c')).sort(), ['.', '..']);

  // What the swarm holds, as a new mount sees it.
  const other = (await mountSimFs(t, swarm)).fs;
  t.deepEqual((await other.readdir('/')).sort(), ['.', '..', 'a', 'x']);
  t.deepEqual((await other.readdir('/a/b')).sort(), ['.', '..', 'f2']);
  t.deepEqual((await other.readdir('/x/c')).sort(), ['.', '..']);
  t.is((await readFile(other, '/a/b/f2')).toString(), 'one');
});

test.serial('an unlinked open file stays readable through its handle; symlinks, modes, owners, times and xattrs', async (t) => {
  const { swarm, fs } = await swarmWithMount(t, 121);
  const data = swarm.bytes(2 * CHUNK + 77);
  await writeFile(fs, '/open', data);
  const fd = await fs.open('/open', O.RDONLY);
  await fs.unlink('/open');
  await rejectsWith(t, fs.getattr('/open'), 'NO_ENTRY', 'the unlinked name');
  t.false((await fs.readdir('/')).includes('open'));
  fs.dropCaches();
  t.true((await readRange(fs, fd, 0, data.length)).equals(data), 'read whole through the open handle');
  await fs.release(fd);

  await fs.symlink('../some/where', '/ln');
  t.is(await fs.readlink('/ln'), '../some/where');
  const ln = await fs.getattr('/ln');
  t.is(ln.type, 'symlink');
  t.is(ln.size, '../some/where'.length);
  await writeFile(fs, '/file', Buffer.from('contents'));
  await rejectsWith(t, fs.readlink('/file'), 'INVALID_ARGUMENT', 'readlink of a file');

  await fs.chmod('/file', 0o600);
  await fs.chown('/file', 1234, 5678);
  await fs.utimens('/file', 1_000_000, 2_000_000);
  await fs.utimens('/file', null, 3_000_000);
  const check = async (on: SwarmFs, where: string) => {
    const s = await on.getattr('/file');
    t.is(s.mode & 0o7777, 0o600, `mode ${where}`);
    t.deepEqual([s.uid, s.gid], [1234, 5678], `owner ${where}`);
    t.deepEqual([s.atimeMs, s.mtimeMs], [1_000_000, 3_000_000], `times ${where} (atime kept when omitted)`);
  };
  await check(fs, 'here');

  const v1 = Buffer.from('first');
  await fs.setxattr('/file', 'user.a', v1, XATTR_CREATE);
  await rejectsWith(t, fs.setxattr('/file', 'user.a', v1, XATTR_CREATE), 'ENTRY_EXISTS', 'XATTR_CREATE of an existing name');
  await rejectsWith(t, fs.setxattr('/file', 'user.b', v1, XATTR_REPLACE), 'NO_ATTRIBUTE', 'XATTR_REPLACE of a missing name');
  await fs.setxattr('/file', 'user.a', Buffer.from('second'), XATTR_REPLACE);
  await fs.setxattr('/file', 'user.b', Buffer.from([0, 1, 2]));
  await fs.setxattr('/file', 'user.c', Buffer.from('gone soon'));
  await fs.removexattr('/file', 'user.c');
  await rejectsWith(t, fs.getxattr('/file', 'user.c'), 'NO_ATTRIBUTE', 'a removed xattr');
  await rejectsWith(t, fs.removexattr('/file', 'user.c'), 'NO_ATTRIBUTE', 'removing a missing xattr');
  const checkX = async (on: SwarmFs, where: string) => {
    t.deepEqual((await on.listxattr('/file')).sort(), ['user.a', 'user.b'], `xattr names ${where}`);
    t.is((await on.getxattr('/file', 'user.a')).toString(), 'second', `user.a ${where}`);
    t.deepEqual([...(await on.getxattr('/file', 'user.b'))], [0, 1, 2], `user.b ${where}`);
  };
  await checkX(fs, 'here');
  const other = (await mountSimFs(t, swarm)).fs;
  await check(other, 'on another mount');
  await checkX(other, 'on another mount');
  t.is(await other.readlink('/ln'), '../some/where');
  t.is((await readFile(other, '/file')).toString(), 'contents', 'contents kept through attribute changes');
});

// ---- two mounts ----

for (const seed of simSeeds(3, 130)) {
  test.serial(`two mounts: close-to-open, concurrent creates in one directory, attributes fresh after the TTL (seed ${seed})`, async (t) => {
    const swarm = await createSimSwarm(t, { cells: 4, seed });
    // Datagrams overtake each other, some arrive twice, a few are lost: the mounts' requests retry.
    swarm.net.delayMsMax = 10;
    swarm.net.dupRate = 0.05;
    swarm.net.lossRate = 0.01;
    const a = await mountSimFs(t, swarm);
    const b = await mountSimFs(t, swarm);
    const rng = swarm.rng;

    // Close-to-open: B has read an old version; A rewrites it (another size) and closes; B's next open reads the new one whole.
    const v1 = swarm.bytes(CHUNK * (1 + rng.int(3)) + rng.int(CHUNK));
    await writeFile(a.fs, '/shared', v1);
    t.true((await readFile(b.fs, '/shared')).equals(v1), 'B reads the first version');
    const v2 = swarm.bytes(CHUNK * (1 + rng.int(4)) + rng.int(CHUNK));
    const fd = await a.fs.open('/shared', O.RDWR);
    await a.fs.ftruncate(fd, 0);
    await writeAll(a.fs, fd, v2);
    await a.fs.release(fd);
    t.true((await readFile(b.fs, '/shared')).equals(v2), 'B reads the second version whole on its next open');

    // Concurrent creates in one directory from both mounts: all survive.
    await a.fs.mkdir('/d', 0o755);
    const N = 8;
    const contents = new Map<string, Buffer>();
    const creates: Promise<void>[] = [];
    for (const [name, m] of [
      ['a', a],
      ['b', b],
    ] as const) {
      for (let i = 0; i < N; i++) {
        const data = swarm.bytes(rng.int(2) === 0 ? rng.int(INLINE_MAX) : CHUNK + rng.int(CHUNK));
        contents.set(`${name}${i}`, data);
        creates.push(writeFile(m.raw, `/d/${name}${i}`, data));
      }
    }
    await swarm.settle(Promise.all(creates));
    const all = [...contents.keys()].sort();
    await swarm.run(a.raw.opts.attrTtlMs + 1);
    t.deepEqual((await a.fs.readdir('/d')).filter((n) => n !== '.' && n !== '..').sort(), all, 'A lists every file');
    t.deepEqual((await b.fs.readdir('/d')).filter((n) => n !== '.' && n !== '..').sort(), all, 'B lists every file');
    for (const [name, data] of contents) {
      t.true((await readFile(a.fs, `/d/${name}`)).equals(data), `${name} read by A`);
      t.true((await readFile(b.fs, `/d/${name}`)).equals(data), `${name} read by B`);
    }

    // Attribute freshness: B has the attributes; A changes mode and size; past the TTL, B sees the change.
    const before = await b.fs.getattr('/shared');
    t.is(before.size, v2.length);
    await a.fs.chmod('/shared', 0o640);
    await a.fs.truncate('/shared', 1234);
    await swarm.run(a.raw.opts.attrTtlMs + 1);
    const after = await b.fs.getattr('/shared');
    t.is(after.mode & 0o7777, 0o640, 'mode seen by B after the TTL');
    t.is(after.size, 1234, 'size seen by B after the TTL');
  });
}

// ---- failures ----

for (const seed of simSeeds(3, 140)) {
  test.serial(`a storage cell crashes while a mount writes and reads: R=3, W=2 lose nothing acknowledged and reads fail over (seed ${seed})`, async (t) => {
    const swarm = await createSimSwarm(t, { cells: 5, seed });
    t.is(swarm.config.placement.replicas, 3);
    t.is(swarm.config.placement.writeQuorum, 2);
    const m = await mountSimFs(t, swarm);
    const rng = swarm.rng;
    const written = new Map<string, Buffer>();
    const write = async (path: string) => {
      const data = swarm.bytes(CHUNK * (1 + rng.int(3)) + rng.int(CHUNK));
      await writeFile(m.fs, path, data);
      written.set(path, data);
    };
    for (let i = 0; i < 3; i++) await write(`/before${i}`);

    // A cell that holds some of it dies while the next file is being written.
    const victim = pick(rng, swarm.cells.filter((c) => c.store.stats().chunks > 0));
    const data = swarm.bytes(4 * CHUNK + rng.int(CHUNK));
    let done = false;
    const inFlight = writeFile(m.raw, '/during', data).finally(() => (done = true));
    inFlight.catch(() => undefined);
    // The crash comes once the first of its chunks is on some cell, before the file is committed.
    const first = chunksOf(data)[0]!;
    await swarm.until(() => done || swarm.cells.some((c) => c.store.has(first)), 60_000, 'the first chunk stored');
    t.false(done, 'the crash comes while the file is being written');
    const victimHeld = [...written.values()].flatMap((d) => chunksOf(d)).filter((k) => victim.store.has(k)).length;
    t.true(victimHeld > 0, 'the crashed cell held chunks of the files written before');
    await swarm.crash(victim);
    // Read at once, before the failure detector has declared it dead: a read that tries it first fails over to another copy.
    m.fs.dropCaches();
    for (const [path, bytes] of written) t.true((await readFile(m.fs, path)).equals(bytes), `${path} right after the crash`);
    await swarm.settle(inFlight, 120_000);
    written.set('/during', data);
    for (let i = 0; i < 3; i++) await write(`/after${i}`);

    // Everything acknowledged reads back, with no cache: from the cells left, failing over from the dead one.
    m.fs.dropCaches();
    for (const [path, bytes] of written) t.true((await readFile(m.fs, path)).equals(bytes), `${path} here`);
    t.log(`the crashed cell held ${victimHeld} chunks of the files written before it crashed`);
    const other = await mountSimFs(t, swarm);
    for (const [path, bytes] of written) t.true((await readFile(other.fs, path)).equals(bytes), `${path} on a new mount`);
  });
}

test.serial('dropCaches: reads after it come from the cells, reads before it from the cache', async (t) => {
  const { swarm, m, fs } = await swarmWithMount(t, 150);
  const data = swarm.bytes(4 * CHUNK + 999);
  await writeFile(fs, '/cached', data);
  t.true((await readFile(fs, '/cached')).equals(data));
  let from = m.bytesReceived;
  t.true((await readFile(fs, '/cached')).equals(data));
  const warm = m.bytesReceived - from;
  t.true(warm < data.length / 4, `a read with the chunks cached receives ${warm} bytes`);
  fs.dropCaches();
  from = m.bytesReceived;
  t.true((await readFile(fs, '/cached')).equals(data));
  const cold = m.bytesReceived - from;
  t.true(cold >= data.length, `a read after dropCaches receives ${cold} bytes, the file is ${data.length}`);
});

/** The keys of a file's chunks (as the mount cuts it). */
function chunksOf(data: Buffer): ChunkKey[] {
  const keys: ChunkKey[] = [];
  for (let at = 0; at < data.length; at += CHUNK) keys.push(chunkKeyOf(data.subarray(at, Math.min(at + CHUNK, data.length))));
  return keys;
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  if (xs.length === 0) throw new Error('nothing to pick from');
  return xs[rng.int(xs.length)]!;
}
