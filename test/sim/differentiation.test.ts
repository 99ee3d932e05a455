import test from 'ava';
import type { Role } from '../../src/membership/index.js';
import { createSimSwarm, simSeeds, type SimSwarm } from '../helpers/sim-swarm.js';

const CELLS = 8;

const roles = (swarm: SimSwarm) => swarm.cells.map((c) => c.membership.members()[0]!.role);
const count = (rs: Role[], r: Role) => rs.filter((x) => x === r).length;

/** As test/integration/immune.test.ts's differentiation scenario (8 stem cells), on a simulated swarm. */
for (const seed of simSeeds(8)) {
  test.serial(`8 stem cells take storage until R, then one guard; the rest stay stem while steady; lost guards and storage are replaced (seed ${seed})`, async (t) => {
    const swarm = await createSimSwarm(t, { cells: CELLS, seed, roles: 'differentiate' });
    const R = swarm.config.placement.replicas;
    await swarm.until(
      () => {
        const rs = roles(swarm);
        return count(rs, 'storage') >= R && count(rs, 'guard') === 1;
      },
      30_000,
      'R storage cells and a guard',
    );
    const settled = roles(swarm);
    t.log(`settled at ${Math.round(swarm.clock.now())} simulated ms: ${[...settled].sort().join(', ')}`);
    // Lateral inhibition: the cells that saw the same need did not all take it.
    t.is(count(settled, 'storage'), R, 'exactly R storage cells');
    t.is(count(settled, 'stem'), CELLS - R - 1, 'the others stay stem (hot spares)');

    // Steady half a minute (15 heartbeats, 30 decisions per cell): nobody changes role, and every cell's view of the roles agrees.
    const changes = () => swarm.events().filter((e) => e.type === 'role-changed').length;
    const before = changes();
    await swarm.run(30_000);
    t.is(changes(), before, 'no role change while steady');
    t.deepEqual(roles(swarm), settled);
    for (const c of swarm.cells) {
      t.deepEqual(
        swarm.cells.map((o) => c.membership.get(o.id)?.role),
        settled,
        'every cell sees the same roles',
      );
    }

    // The guard and a storage cell die: stem cells take their roles.
    const guard = swarm.cells.find((c) => c.membership.members()[0]!.role === 'guard')!;
    const storage = swarm.cells.find((c) => c.membership.members()[0]!.role === 'storage')!;
    await swarm.crash(guard);
    await swarm.crash(storage);
    await swarm.until(
      () => {
        const rs = roles(swarm);
        return count(rs, 'guard') === 1 && count(rs, 'storage') >= R;
      },
      30_000,
      'a stem cell became guard and one became storage',
    );
    t.is(count(roles(swarm), 'storage'), R);
  });
}
