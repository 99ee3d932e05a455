import test from 'ava';
import type { ChunkKey } from '../../src/core/index.js';
import { SIM_CHUNK_BYTES, mountSimFs, writeFile } from '../helpers/sim-fs.js';
import { createSimSwarm, type SimSwarm } from '../helpers/sim-swarm.js';

/*
 * R per directory through the mount's logic (SwarmFs on a simulated swarm):
 * the user.cellsync.replicas xattr sets and shows an inode's R, what is made
 * in a directory inherits it, and a file's chunks are stored with it.
 */

const R_XATTR = 'user.cellsync.replicas';
const XATTR_CREATE = 1;

/** Every chunk key any running cell holds. */
const held = (swarm: SimSwarm) => new Set(swarm.cells.flatMap((c) => [...c.store.keys()]));

test.serial('a directory given R=2 passes it to files and directories made in it; their chunks are stored on 2 cells; the xattr checks its value', async (t) => {
  const swarm = await createSimSwarm(t, { cells: 4, seed: 43 });
  const { fs } = await mountSimFs(t, swarm);
  await fs.mkdir('/d', 0o755);
  await t.throwsAsync(fs.getxattr('/d', R_XATTR), { code: 'NO_ATTRIBUTE' }, 'no R of its own yet');
  await fs.setxattr('/d', R_XATTR, Buffer.from('2\n'));
  t.is((await fs.getxattr('/d', R_XATTR)).toString(), '2');
  t.false((await fs.listxattr('/d')).includes(R_XATTR), 'not listed: cp -a must not carry it off the mount');
  await t.throwsAsync(fs.setxattr('/d', R_XATTR, Buffer.from('3'), XATTR_CREATE), { code: 'ENTRY_EXISTS' });
  for (const bad of ['0', '17', 'two', '']) await t.throwsAsync(fs.setxattr('/d', R_XATTR, Buffer.from(bad)), { code: 'INVALID_ARGUMENT' }, `"${bad}"`);

  const before = held(swarm);
  await fs.mkdir('/d/e', 0o755);
  await writeFile(fs, '/d/e/f', swarm.bytes(2 * SIM_CHUNK_BYTES + 5));
  t.is((await fs.getxattr('/d/e', R_XATTR)).toString(), '2', 'a directory made in it');
  t.is((await fs.getxattr('/d/e/f', R_XATTR)).toString(), '2', 'a file made in that one');
  const made: ChunkKey[] = [...held(swarm)].filter((k) => !before.has(k));
  t.is(made.length, 4, 'three chunks and the chunk map');
  t.deepEqual(made.map((k) => swarm.holders(k).length), [2, 2, 2, 2]);
  t.true(made.every((k) => swarm.holders(k).every((c) => c.store.meta(k).replicas === 2)));

  // Without it again, what is made there takes the mount's R.
  await fs.removexattr('/d', R_XATTR);
  await t.throwsAsync(fs.getxattr('/d', R_XATTR), { code: 'NO_ATTRIBUTE' });
  const before2 = held(swarm);
  await writeFile(fs, '/d/g', swarm.bytes(SIM_CHUNK_BYTES + 5));
  const made2 = [...held(swarm)].filter((k) => !before2.has(k));
  t.deepEqual(made2.map((k) => swarm.holders(k).length), made2.map(() => swarm.config.placement.replicas));

  await fs.symlink('/d/g', '/d/link');
  await t.throwsAsync(fs.setxattr('/d/link', R_XATTR, Buffer.from('2')), { code: 'NOT_PERMITTED' }, 'a symlink has no data to copy');
});
