import test from 'ava';
import { Messages } from '../../src/wire/index.js';
import type { SwarmFs } from '../../src/mount/fs/index.js';
import { ATTR_BATCH_MAX } from '../../src/mount/fs/attr-batches.js';
import { O, mountSimFs, writeAll, writeFile, type SimMount } from '../helpers/sim-fs.js';
import { createSimSwarm, type SimSwarm } from '../helpers/sim-swarm.js';

/*
 * Listing and stat (AttrBatches in the resolver): a listed directory's
 * entries' attributes come in batches, not one record read each, and stay
 * as fresh as documented (1 s; an open reads afresh).
 */

/** Counts the REC_GET requests a mount sends (one per placement group and cell asked). */
function countRecordGets(m: SimMount): { readonly count: number } {
  const endpoint = m.client.endpoint;
  const call = endpoint.call.bind(endpoint);
  const counter = { count: 0 };
  endpoint.call = ((addr, type, body, opts) => {
    if (type === Messages.REC_GET) counter.count++;
    return call(addr, type, body, opts);
  }) as typeof endpoint.call;
  return counter;
}

/** getattr as the op table does it: from memory when it can, else from the swarm. */
async function stat(fs: SwarmFs, path: string) {
  return fs.getattrNow(path) ?? (await fs.getattr(path));
}

/** Lets simulated time pass (the attribute TTL). */
function sleep(swarm: SimSwarm, ms: number): Promise<void> {
  return swarm.settle(new Promise<void>((resolve) => swarm.clock.setTimeout(resolve, ms)));
}

/** Writes `bytes` bytes over an existing file from its start, and closes it. */
async function rewrite(fs: SwarmFs, path: string, bytes: number): Promise<void> {
  const fd = await fs.open(path, O.RDWR);
  await writeAll(fs, fd, Buffer.alloc(bytes, 2));
  await fs.release(fd);
}

const FILES = 300;
const sizeOf = (i: number) => (i % 50) + 1;

test.serial('ls -l of a listed directory: its entries stat in batches, with their sizes; cold again after dropCaches; another mount\'s change seen after 1 s and at once by an open', async (t) => {
  const swarm = await createSimSwarm(t, { cells: 4, seed: 4101 });
  const a = await mountSimFs(t, swarm);
  await a.fs.mkdir('/d', 0o755);
  for (let i = 0; i < FILES; i++) await writeFile(a.fs, `/d/f${String(i).padStart(4, '0')}`, Buffer.alloc(sizeOf(i), 1));

  const b = await mountSimFs(t, swarm);
  const gets = countRecordGets(b);
  const lsLong = async () => {
    const names = (await b.fs.readdir('/d')).filter((n) => n !== '.' && n !== '..');
    t.is(names.length, FILES);
    const from = gets.count;
    for (const name of names) t.is((await stat(b.fs, `/d/${name}`)).size, sizeOf(Number(name.slice(1))), name);
    return gets.count - from;
  };
  // Each batch asks a majority of the group's homes (a third one only if an answer is late).
  const batches = Math.ceil(FILES / ATTR_BATCH_MAX);
  const cold = await lsLong();
  t.true(cold <= 3 * batches, `${cold} record reads for ${FILES} stats (${batches} batches)`);
  b.fs.dropCaches();
  const afterDrop = await lsLong();
  t.true(afterDrop <= 3 * batches, `after dropCaches: ${afterDrop} record reads for ${FILES} stats`);

  // Another mount rewrites two files: a stat sees the new size once the attributes are 1 s old, an open at once.
  await rewrite(a.fs, '/d/f0005', 1000);
  await rewrite(a.fs, '/d/f0006', 2000);
  const fd = await b.fs.open('/d/f0006', O.RDONLY);
  t.is((await b.fs.fgetattr(fd)).size, 2000, 'close-to-open: an open reads the inode afresh');
  await b.fs.release(fd);
  await sleep(swarm, 1_100);
  t.is((await stat(b.fs, '/d/f0005')).size, 1000, 'attributes are trusted for 1 s at most');
});

test.serial('a chmod of an entry in a batch under way waits for the batch, and what it wrote is what stat shows', async (t) => {
  const swarm = await createSimSwarm(t, { cells: 4, seed: 4102 });
  const a = await mountSimFs(t, swarm);
  await a.fs.mkdir('/d', 0o755);
  for (let i = 0; i < 20; i++) await writeFile(a.fs, `/d/f${i}`, Buffer.alloc(10, 1));
  const b = await mountSimFs(t, swarm);
  await b.fs.readdir('/d');
  // The first stat starts a batch of every entry; the chmod starts while it is under way.
  const statting = b.raw.getattr('/d/f0');
  const chmodding = b.raw.chmod('/d/f3', 0o600);
  await swarm.settle(Promise.all([statting, chmodding]));
  t.is((await stat(b.fs, '/d/f3')).mode & 0o777, 0o600);
});
