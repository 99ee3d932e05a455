import test, { type ExecutionContext } from 'ava';
import { FILE_BYTES_MAX } from '../../src/core/index.js';
import { O, SIM_CHUNK_BYTES, mountSimFs, readFile, readRange, writeFile, type SimMount } from '../helpers/sim-fs.js';
import { createSimSwarm, type SimSwarm } from '../helpers/sim-swarm.js';

/*
 * The largest file size (FILE_BYTES_MAX, ext4's) through the file system
 * facade on a simulated swarm: truncates and writes past it answer EFBIG as
 * on ext4, and a file of that size with a few bytes written costs memory and
 * storage for those bytes, not for its size (chunks are 64 KiB here: such a
 * file has 268 million chunk indices).
 */

const CHUNK = SIM_CHUNK_BYTES;

async function swarmWithMount(t: ExecutionContext, seed: number): Promise<{ swarm: SimSwarm; m: SimMount }> {
  const swarm = await createSimSwarm(t, { cells: 3, seed });
  return { swarm, m: await mountSimFs(t, swarm) };
}

test.serial('truncate and ftruncate past the largest file size answer EFBIG and change nothing; up to it, the size is set', async (t) => {
  const { swarm, m } = await swarmWithMount(t, 2701);
  const { fs } = m;
  const data = swarm.bytes(3 * CHUNK + 10);
  await writeFile(fs, '/f', data);
  // 2^63 - 1 arrives from fuse-native as the double 2^63; 999999999999999 is what pjdfstest and the issue tried.
  for (const size of [FILE_BYTES_MAX + 1, 999_999_999_999_999, 2 ** 62, 2 ** 63]) {
    await t.throwsAsync(fs.truncate('/f', size), { code: 'FILE_TOO_BIG' }, `truncate to ${size}`);
  }
  await t.throwsAsync(fs.truncate('/f', -1), { code: 'INVALID_ARGUMENT' });
  t.is((await fs.getattr('/f')).size, data.length);
  t.true((await readFile(fs, '/f')).equals(data), 'the file is as it was');

  const fd = await fs.open('/f', O.RDWR);
  await t.throwsAsync(fs.ftruncate(fd, FILE_BYTES_MAX + 1), { code: 'FILE_TOO_BIG' });
  await fs.ftruncate(fd, FILE_BYTES_MAX);
  t.is((await fs.fgetattr(fd)).size, FILE_BYTES_MAX);
  await fs.release(fd);
  await fs.truncate('/f', data.length);
  t.true((await readFile(fs, '/f')).equals(data), 'cut back to its bytes');
});

test.serial('a write at or past the largest file size answers EFBIG; one across it is shortened to end there', async (t) => {
  const { m } = await swarmWithMount(t, 2702);
  const { fs } = m;
  const fd = await fs.create('/w', 0o644);
  const bytes = Buffer.from('0123456789');
  for (const at of [FILE_BYTES_MAX, 2 ** 62, 2 ** 63]) {
    await t.throwsAsync(fs.write(fd, bytes, bytes.length, at), { code: 'FILE_TOO_BIG' }, `write at ${at}`);
  }
  t.is((await fs.fgetattr(fd)).size, 0, 'nothing written');
  t.is(await fs.write(fd, bytes, bytes.length, FILE_BYTES_MAX - 4), 4, 'the 4 bytes below the limit');
  t.is((await fs.fgetattr(fd)).size, FILE_BYTES_MAX);
  // O_APPEND at the limit: nothing fits.
  const appender = await fs.open('/w', O.WRONLY | O.APPEND);
  await t.throwsAsync(fs.write(appender, bytes, bytes.length, 0), { code: 'FILE_TOO_BIG' });
  await fs.release(appender);
  t.deepEqual(await readRange(fs, fd, FILE_BYTES_MAX - 6, 100), Buffer.from('\0\x000123'));
  await fs.release(fd);
});

test.serial('a file of the largest size with a few bytes written costs those bytes: in memory, in its chunk map, on the cells, and to read back', async (t) => {
  const { swarm, m } = await swarmWithMount(t, 2703);
  const { fs } = m;
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const fd = await fs.create('/sparse', 0o644);
  await fs.ftruncate(fd, FILE_BYTES_MAX);
  const marks = [0, Math.floor(FILE_BYTES_MAX / 2 / CHUNK) * CHUNK + 17, FILE_BYTES_MAX - 5];
  for (const at of marks) t.is(await fs.write(fd, Buffer.from('mark!'), 5, at), 5);
  await fs.release(fd);
  const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
  // A dense list of its 268 million chunks would take gigabytes.
  t.true(heapGrowth < 64 * 2 ** 20, `heap grew ${(heapGrowth / 2 ** 20).toFixed(1)} MiB`);

  const other = await mountSimFs(t, swarm);
  const st = await other.fs.getattr('/sparse');
  t.is(st.size, FILE_BYTES_MAX);
  // Three chunks stored (each at its length: the last ends at the limit, not a multiple of 64 KiB), the rest holes.
  t.is(st.storedBytes, 2 * CHUNK + (FILE_BYTES_MAX % CHUNK));
  const rfd = await other.fs.open('/sparse', O.RDONLY);
  for (const at of marks) t.deepEqual(await readRange(other.fs, rfd, at, 5), Buffer.from('mark!'), `the mark at ${at}`);
  t.deepEqual(await readRange(other.fs, rfd, 2 ** 40, 8), Buffer.alloc(8), 'a hole reads as zeros');
  await other.fs.release(rfd);
  // Its chunk map is small: the cells hold little more than the three chunks.
  const stored = swarm.cells.reduce((n, c) => n + c.store.stats().bytes, 0);
  t.true(stored < 4 * CHUNK * swarm.config.placement.replicas, `${stored} bytes stored on the cells`);
  // Cut and grown again: still sparse, the marks past the cut gone.
  await other.fs.truncate('/sparse', 10);
  await other.fs.truncate('/sparse', FILE_BYTES_MAX);
  const again = await other.fs.open('/sparse', O.RDONLY);
  t.deepEqual(await readRange(other.fs, again, 0, 5), Buffer.from('mark!'));
  t.deepEqual(await readRange(other.fs, again, FILE_BYTES_MAX - 5, 5), Buffer.alloc(5));
  await other.fs.release(again);
});

test.serial('a small file (inline) grown by a truncate, or by a write past its first chunk, keeps its bytes', async (t) => {
  const { m } = await swarmWithMount(t, 2704);
  const { fs } = m;
  await writeFile(fs, '/grown', Buffer.from('hello'));
  await fs.truncate('/grown', 3 * CHUNK);
  await writeFile(fs, '/written', Buffer.from('hello'));
  const fd = await fs.open('/written', O.RDWR);
  t.is(await fs.write(fd, Buffer.from('far'), 3, 2 * CHUNK), 3);
  await fs.release(fd);
  const grown = await readFile(fs, '/grown');
  t.is(grown.length, 3 * CHUNK);
  t.is(grown.subarray(0, 5).toString(), 'hello');
  const written = await readFile(fs, '/written');
  t.is(written.subarray(0, 5).toString(), 'hello');
  t.is(written.subarray(2 * CHUNK).toString(), 'far');
});
