import test from 'ava';
import { RecordsClient } from '../../src/client/index.js';
import { HybridClock, inodeKey, type RecordEnvelope } from '../../src/namespace/index.js';
import { localRecordsDisk, mountSimFs, writeFile, type SimMount } from '../helpers/sim-fs.js';
import { createSimSwarm, type SimSwarm } from '../helpers/sim-swarm.js';

/*
 * Removing trees on a simulated swarm (decision 0042): what a removal cut
 * short between its placement groups leaves, and that rmdir clears it;
 * removals whose records are read and written straight in the cells'
 * databases, as a mount on the cells' machine does.
 */

/** Tombstones the inode an entry of `dir` names, as the half of a removal that reached its homes when the other half (the entry's) did not. */
async function tombstoneInodeOf(swarm: SimSwarm, m: SimMount, dir: string, name: string): Promise<void> {
  const entry = (await m.fs.readdirEntries(dir)).find(([n]) => n === name)!;
  const records = new RecordsClient(m.client, m.raw.opts.replicas);
  const hlc = new HybridClock(swarm.clock, m.client.endpoint.id);
  const rec = await swarm.settle(records.get(inodeKey(entry[1].ino)));
  hlc.observe(rec!.v);
  const tombstone: RecordEnvelope = { k: inodeKey(entry[1].ino), v: hlc.now(), d: null };
  await swarm.settle(records.put([tombstone]));
}

test.serial('entries whose inode a cut-short removal tombstoned are removed with their directory; a live entry still makes it ENOTEMPTY', async (t) => {
  const swarm = await createSimSwarm(t, { cells: 4, seed: 4201 });
  const m = await mountSimFs(t, swarm);
  const { fs } = m;
  await fs.mkdir('/tree', 0o755);
  await fs.mkdir('/tree/sub', 0o755);
  await writeFile(fs, '/tree/f', Buffer.from('half removed'));
  await writeFile(fs, '/tree/live', Buffer.from('still here'));
  await tombstoneInodeOf(swarm, m, '/tree', 'sub');
  await tombstoneInodeOf(swarm, m, '/tree', 'f');

  // What rm -rf meets in another mount: the names are listed, each looks absent, and the directory is not empty.
  const other = (await mountSimFs(t, swarm)).fs;
  t.deepEqual((await other.readdir('/tree')).sort(), ['.', '..', 'f', 'live', 'sub']);
  await t.throwsAsync(other.getattr('/tree/f'), { code: 'NO_ENTRY' });
  await t.throwsAsync(other.unlink('/tree/f'), { code: 'NO_ENTRY' });
  await t.throwsAsync(other.rmdir('/tree'), { code: 'DIRECTORY_NOT_EMPTY' }, 'a live file is still in it');
  t.deepEqual((await other.readdir('/tree')).sort(), ['.', '..', 'f', 'live', 'sub'], 'ENOTEMPTY changed nothing');

  await other.unlink('/tree/live');
  await other.rmdir('/tree');
  t.deepEqual(await other.readdir('/'), ['.', '..']);
  const third = (await mountSimFs(t, swarm)).fs;
  t.deepEqual(await third.readdir('/'), ['.', '..'], 'as another mount reads the records');
  await third.mkdir('/tree', 0o755);
  t.deepEqual(await third.readdir('/tree'), ['.', '..'], 'a directory made again under the name is new and empty');
});

test.serial('a mount reading and writing records in the cells\' databases removes a tree, and one that reaches them by the network sees it gone', async (t) => {
  const swarm = await createSimSwarm(t, { cells: 4, seed: 4202 });
  const here = await mountSimFs(t, swarm, undefined, localRecordsDisk(swarm));
  const { fs } = here;
  await fs.mkdir('/t', 0o755);
  for (const d of ['a', 'b']) {
    await fs.mkdir(`/t/${d}`, 0o755);
    for (let i = 0; i < 20; i++) await writeFile(fs, `/t/${d}/f${i}`, swarm.bytes(100 + i));
  }
  await writeFile(fs, '/kept', Buffer.from('kept'));
  const away = (await mountSimFs(t, swarm)).fs;
  t.is((await away.readdir('/t/a')).length, 22);

  const sentBefore = here.bytesReceived;
  for (const d of ['a', 'b']) {
    for (const name of (await fs.readdir(`/t/${d}`)).slice(2)) await fs.unlink(`/t/${d}/${name}`);
    await fs.rmdir(`/t/${d}`);
  }
  await fs.rmdir('/t');
  t.deepEqual(await fs.readdir('/'), ['.', '..', 'kept']);
  // Reads and the majority's writes went straight to the databases: nearly nothing came back over the network (about 19 KB when reads crossed it).
  t.true(here.bytesReceived - sentBefore < 4 * 1024, `received ${here.bytesReceived - sentBefore} bytes`);

  await swarm.run(2_000);
  t.deepEqual(await away.readdir('/'), ['.', '..', 'kept'], 'the other mount, once its cached listing aged');
  await t.throwsAsync(away.getattr('/t/a/f1'), { code: 'NO_ENTRY' });
});
