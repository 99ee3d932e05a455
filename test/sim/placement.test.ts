import test from 'ava';
import type { ChunkKey } from '../../src/core/index.js';
import { createSimSwarm, simSeeds, type SimSwarm } from '../helpers/sim-swarm.js';

const CELLS = 6;
/** Keys whose replica sets are compared: enough that R/N is seen within a few points. */
const KEYS = 1_000;
/** Chunks actually stored, to watch copies move. */
const CHUNKS = 16;
/** How far the share of keys that move may be from R/N (4.5 standard deviations at 1,000 keys). */
const SHARE_TOLERANCE = 0.07;

const randomKey = (swarm: SimSwarm): ChunkKey => swarm.bytes(32).toString('hex');

/** How many running cells place some key differently from the first running cell, each from its own view of the swarm. */
const disagreeing = (swarm: SimSwarm, keys: ChunkKey[]) => {
  const [first, ...others] = swarm.cells.map((c) => keys.map(swarm.placement(c)).join('|'));
  return others.filter((sets) => sets !== first).length;
};

for (const seed of simSeeds(10)) {
  test.serial(`placement: every cell gives the same replica sets; one join or leave moves about R/N of the keys, and only those copies move (seed ${seed})`, async (t) => {
    const swarm = await createSimSwarm(t, { cells: CELLS, seed });
    const R = swarm.config.placement.replicas;
    const keys = Array.from({ length: KEYS }, () => randomKey(swarm));
    t.is(disagreeing(swarm, keys), 0, 'the same answer everywhere for the same view');
    const chunks: ChunkKey[] = [];
    for (let i = 0; i < CHUNKS; i++) chunks.push(await swarm.putChunk(swarm.bytes(512 + swarm.rng.int(4_096))));
    const onHomes = () => {
      const homes = swarm.placement();
      return chunks.every((k) => swarm.holders(k).map((c) => c.id).sort().join() === [...homes(k)].sort().join());
    };
    t.true(onHomes());

    // A cell joins: it takes its share, R/(N+1), and each moved key trades exactly one home for it.
    const before = keys.map(swarm.placement());
    const joiner = await swarm.start(await swarm.addSlot('storage'));
    await swarm.until(() => swarm.isConverged(), 10_000, 'the joiner known everywhere');
    const afterJoin = keys.map(swarm.placement());
    const moved = keys.filter((_, i) => afterJoin[i]!.join() !== before[i]!.join()).length;
    t.true(Math.abs(moved / KEYS - R / (CELLS + 1)) < SHARE_TOLERANCE, `${moved} of ${KEYS} keys moved on a join; R/N = ${(R / (CELLS + 1)).toFixed(3)}`);
    const odd = afterJoin.filter((homes, i) => homes.join() !== before[i]!.join() && !(homes.includes(joiner.id) && homes.filter((id) => !before[i]!.includes(id)).length === 1));
    t.is(odd.length, 0, 'a moved key has the joiner instead of one old home');
    t.is(disagreeing(swarm, keys), 0, 'the same answer everywhere after the join');
    // Healing moves exactly those copies: the joiner ends up with the chunks that now have it as a home.
    await swarm.until(onHomes, 30_000, 'every chunk on exactly its home cells after the join', 100);
    t.is(joiner.store.stats().chunks, chunks.filter((k) => swarm.homes(k).includes(joiner.id)).length);

    // A cell leaves (it dies): the keys it was a home of move, and only they.
    const leaver = swarm.cells[swarm.rng.int(CELLS)]!;
    await swarm.crash(leaver);
    await swarm.until(() => swarm.cells.every((c) => c.membership.get(leaver.id)?.state === 'dead'), 20_000, 'the leaver dead everywhere');
    const afterLeave = keys.map(swarm.placement());
    const movedOnLeave = keys.filter((_, i) => afterLeave[i]!.join() !== afterJoin[i]!.join());
    t.true(Math.abs(movedOnLeave.length / KEYS - R / (CELLS + 1)) < SHARE_TOLERANCE, `${movedOnLeave.length} of ${KEYS} keys moved on a leave`);
    t.true(
      movedOnLeave.join() === keys.filter((_, i) => afterJoin[i]!.includes(leaver.id)).join(),
      'exactly the keys the leaver was a home of moved',
    );
  });
}
