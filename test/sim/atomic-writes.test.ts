import test, { type ExecutionContext } from 'ava';
import type { Cell } from '../../src/cell/index.js';
import { isLiveStorage } from '../../src/client/index.js';
import type { SwarmFs } from '../../src/mount/fs/index.js';
import type { RecordEnvelope } from '../../src/namespace/index.js';
import { MessageType } from '../../src/wire/index.js';
import { O, localRecordsDisk, mountSimFs, readFile, writeAll, writeFile } from '../helpers/sim-fs.js';
import { createSimSwarm, simSeeds, type SimSwarm } from '../helpers/sim-swarm.js';

/*
 * An operation that answers an error changed nothing (docs/decisions/0029):
 * with two of three storage cells down, every namespace operation through
 * the mount fails, and once the cells are back and anti-entropy has run,
 * the namespace is exactly as it was before. Two ways to be down: known
 * dead to the mount (nothing may be written), or crashed a moment ago and
 * cut off at the first record write (which reaches the one cell left, and
 * is undone there). Each with the homes reached over the network only, and with
 * homes "on this machine" whose record databases the mount writes into.
 */

const BIG_BYTES = 150_000;

/** Every record the running cells hold, the newest of each key. */
function namespaceOf(swarm: SimSwarm): Map<string, RecordEnvelope> {
  const newest = new Map<string, RecordEnvelope>();
  for (const c of swarm.cells) {
    for (let after: string | null = null; ; ) {
      const page = c.records.scan('', after, 512);
      if (page.length === 0) break;
      for (const r of page) if (!newest.has(r.k) || r.v > newest.get(r.k)!.v) newest.set(r.k, r);
      after = page[page.length - 1]!.k;
    }
  }
  return newest;
}

/** The namespace operations a mount makes, each on the tree `build` made. */
const OPS: { name: string; run: (fs: SwarmFs) => Promise<unknown> }[] = [
  {
    name: 'create',
    run: async (fs) => {
      const fd = await fs.create('/d/new', 0o644);
      await writeAll(fs, fd, Buffer.from('new file'));
      await fs.release(fd);
    },
  },
  { name: 'mkdir', run: (fs) => fs.mkdir('/d/newdir', 0o755) },
  { name: 'rmdir', run: (fs) => fs.rmdir('/d/sub') },
  { name: 'unlink', run: (fs) => fs.unlink('/d/big') },
  { name: 'rename across directories', run: (fs) => fs.rename('/d/big', '/e/moved') },
  { name: 'rename over a file', run: (fs) => fs.rename('/small', '/e/victim') },
  { name: 'rename of a directory', run: (fs) => fs.rename('/d/sub', '/e/sub') },
  { name: 'truncate', run: (fs) => fs.truncate('/d/big', 0) },
  {
    name: 'open(O_TRUNC)',
    run: async (fs) => {
      const fd = await fs.open('/d/big', O.RDWR);
      try {
        await fs.ftruncate(fd, 0);
        await fs.flush(fd);
      } finally {
        await fs.release(fd);
      }
    },
  },
  { name: 'chmod', run: (fs) => fs.chmod('/d/big', 0o600) },
  { name: 'utimens', run: (fs) => fs.utimens('/d/big', 1_000, 2_000) },
  { name: 'setxattr', run: (fs) => fs.setxattr('/d/big', 'user.note', Buffer.from('x')) },
  { name: 'symlink', run: (fs) => fs.symlink('small', '/d/ln') },
];

async function build(fs: SwarmFs, big: Buffer): Promise<void> {
  await fs.mkdir('/d', 0o755);
  await fs.mkdir('/d/sub', 0o755);
  await fs.mkdir('/e', 0o755);
  await writeFile(fs, '/d/big', big);
  await writeFile(fs, '/small', Buffer.from('small file'));
  await writeFile(fs, '/e/victim', Buffer.alloc(5_000, 7));
  await fs.symlink('small', '/link');
}

type Mode = 'known dead' | 'cut off mid-write';

/**
 * Two of the three cells go down: crashed, and the mount's view has them
 * dead before the operation ('known dead'); or cut off from everyone at the
 * operation's first record write, which reaches the one cell left
 * (`armCutOff`: the first REC_WRITE or local database write is let through).
 * Returns a function that brings them back.
 */
async function downTwo(swarm: SimSwarm, mode: Mode, cut: Set<string>, armCutOff: (cutOff: (first: Cell) => void) => void): Promise<() => Promise<void>> {
  if (mode === 'cut off mid-write') {
    armCutOff((first) => {
      for (const s of swarm.slots) {
        if (s.addr === first.address) continue;
        swarm.net.isolate(s.addr);
        cut.add(s.addr);
      }
    });
    return async () => {
      for (const addr of cut) swarm.net.heal(addr);
      cut.clear();
    };
  }
  const survivor = swarm.rng.int(3);
  const down = [0, 1, 2].filter((i) => i !== survivor);
  for (const i of down) await swarm.crash(i);
  await swarm.until(() => swarm.members().filter(isLiveStorage).length === 1, 60_000, 'the live cell seeing the others dead');
  // The mount's member list is a second old at most.
  await swarm.run(2_000);
  return async () => {
    for (const i of down) await swarm.restart(i);
  };
}

async function failedOpsChangeNothing(t: ExecutionContext, seed: number, mode: Mode, local: boolean): Promise<void> {
  const swarm = await createSimSwarm(t, { cells: 3, seed });
  let armed: ((first: Cell) => void) | null = null;
  const cut = new Set<string>();
  const trigger = (c: Cell) => {
    const cut = armed;
    armed = null;
    cut?.(c);
  };
  const disk = local ? localRecordsDisk(swarm, { beforeMerge: trigger, writable: (c) => !cut.has(c.address) }) : undefined;
  const m = await mountSimFs(t, swarm, undefined, disk);
  // The first record write over the network arms the cut-off too.
  const endpoint = m.client.endpoint;
  const call = endpoint.call.bind(endpoint);
  endpoint.call = ((addr: string, spec: { type: MessageType }, ...rest: unknown[]) => {
    const c = swarm.cells.find((x) => x.address === addr);
    if (spec.type === MessageType.REC_WRITE && c) trigger(c);
    return (call as (...a: unknown[]) => unknown)(addr, spec, ...rest);
  }) as typeof endpoint.call;
  const big = swarm.bytes(BIG_BYTES);
  await build(m.fs, big);
  for (const op of OPS) {
    await swarm.run(1_000);
    const before = namespaceOf(swarm);
    const bringBack = await downTwo(swarm, mode, cut, (cutOff) => (armed = cutOff));
    const err = await t.throwsAsync(swarm.settle(op.run(m.raw), 120_000), undefined, `${op.name} answers an error`);
    t.log(`${op.name}: ${cut.size > 0 ? 'cut off mid-write' : 'no record written'}: ${err?.message}`);
    armed = null;
    await bringBack();
    await swarm.until(() => swarm.isConverged(), 60_000, 'membership converged');
    // Anti-entropy: a full pass at least (every record offered to every home).
    await swarm.run(8 * swarm.config.heal.antiEntropyMs);
    const after = namespaceOf(swarm);
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter((k) => JSON.stringify(before.get(k)) !== JSON.stringify(after.get(k)));
    for (const k of changed) t.log(`${k}: before ${JSON.stringify(before.get(k))}, after ${JSON.stringify(after.get(k))}`);
    t.deepEqual(changed, [], `${op.name}: the namespace is as before`);
    t.true((await readFile(m.fs, '/d/big')).equals(big), `${op.name}: /d/big intact`);
  }
}

const VARIANTS: { mode: Mode; local: boolean; seed: number }[] = [
  { mode: 'known dead', local: false, seed: 700 },
  { mode: 'known dead', local: true, seed: 701 },
  { mode: 'cut off mid-write', local: false, seed: 710 },
  { mode: 'cut off mid-write', local: true, seed: 711 },
];

for (const v of VARIANTS) {
  for (const seed of simSeeds(1, v.seed)) {
    const how = `${v.mode}, ${v.local ? 'homes on this machine' : 'homes over the network'}`;
    test.serial(`a namespace operation that fails with two of three cells down changes nothing, once they are back: ${how} (seed ${seed})`, (t) =>
      failedOpsChangeNothing(t, seed, v.mode, v.local),
    );
  }
}
