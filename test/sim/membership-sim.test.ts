import test from 'ava';
import { DETECTORS, MembershipSim } from '../../bench/membership-sim.js';

/** Small enough to run in a few seconds for both detectors; big enough that a death must travel. */
const CELLS = 12;
const SEED = Number(process.env.CELLSYNC_SEED ?? 3);

for (const detector of DETECTORS) {
  test.serial(`bench:sim harness, ${detector}: the swarm converges, no false death at 0% loss, a killed cell becomes dead everywhere, a join reaches everyone (seed ${SEED})`, async (t) => {
    const sim = new MembershipSim({ detector, cells: CELLS, seed: SEED });
    t.true(await sim.boot(), 'every cell holds every other alive');
    t.true(sim.isConverged());
    await sim.run(60_000);
    t.deepEqual(sim.alarms.ofHealthy, { suspected: { events: 0, episodes: 0 }, died: { events: 0, episodes: 0 } }, 'no false alarm in a quiet minute');
    t.true(sim.isConverged());
    const silent = await sim.timeUntilKnownDead(sim.cells[3]!, 'silent', 60_000);
    t.not(silent.dead, null, 'an isolated cell is dead in every view');
    t.true(silent.detected! <= silent.dead!, 'suspected everywhere no later than dead everywhere');
    const closed = await sim.timeUntilKnownDead(sim.cells[7]!, 'closed', 60_000);
    t.not(closed.dead, null, 'a closed cell is dead in every view');
    t.is(sim.alarms.ofHealthy.died.events, 0, 'no running cell was declared dead on the way');
    const join = await sim.timeUntilJoinKnown(60_000);
    t.not(join, null, 'a joiner is a member everywhere');
    t.log(`${detector}: silent death detected everywhere after ${silent.detected} ms, dead ${silent.dead} ms; closed dead ${closed.dead} ms; join ${join} ms`);
    await sim.stop();
  });
}

test('bench:sim harness: a seed replays the same figures', async (t) => {
  const once = async () => {
    const sim = new MembershipSim({ detector: 'mesh', cells: 6, seed: SEED });
    await sim.boot();
    await sim.run(10_000);
    const dead = await sim.timeUntilKnownDead(sim.cells[2]!, 'silent', 60_000);
    const sent = sim.sent();
    await sim.stop();
    return { dead, sent };
  };
  t.deepEqual(await once(), await once());
});
