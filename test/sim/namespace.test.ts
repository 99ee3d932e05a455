import test from 'ava';
import { HybridClock, placementKeyOf, type RecordEnvelope } from '../../src/namespace/index.js';
import type { Endpoint } from '../../src/rpc/index.js';
import { Messages } from '../../src/wire/index.js';
import { createSimSwarm, simSeeds, type SimSwarm } from '../helpers/sim-swarm.js';

const CELLS = 4;
const KEYS = 12;
const ROUNDS = 3;
/** How far apart the two writers' wall clocks may be (ms): the hybrid clock orders their writes regardless. */
const SKEW_MS_MAX = 40;

/** A writer: a client endpoint with its own hybrid clock, its wall clock skewed from the swarm's. */
function writer(swarm: SimSwarm, skewMs: number): { endpoint: Endpoint; hlc: HybridClock } {
  const endpoint = swarm.newClient();
  return { endpoint, hlc: new HybridClock({ wallNow: () => swarm.clock.wallNow() + skewMs }, endpoint.id) };
}

/** Sends a record to some of its home cells with REC_PUT, as a client writing at a quorum does. */
function put(swarm: SimSwarm, from: Endpoint, envelope: RecordEnvelope, homes: string[]): Promise<unknown> {
  const byId = new Map(swarm.cells.map((c) => [c.id, c]));
  return Promise.all(homes.map((id) => from.call(byId.get(id)!.address, Messages.REC_PUT, [envelope])));
}

const inodeKey = (swarm: SimSwarm) => `i/${swarm.bytes(8).toString('hex')}`;

for (const seed of simSeeds(12)) {
  test.serial(`namespace: concurrent writes from two writers converge on every home to the newest by hybrid clock; tombstones beat older live copies (seed ${seed})`, async (t) => {
    const swarm = await createSimSwarm(t, { cells: CELLS, seed });
    // Datagrams overtake each other and some arrive twice.
    swarm.net.delayMsMax = 20;
    swarm.net.dupRate = 0.1;
    const R = swarm.config.placement.replicas;
    const writers = [writer(swarm, 0), writer(swarm, swarm.rng.int(2 * SKEW_MS_MAX + 1) - SKEW_MS_MAX)];
    const keys = Array.from({ length: KEYS }, () => inodeKey(swarm));
    const homesOf = (k: string) => swarm.homes(placementKeyOf(k));
    const written = new Map<string, RecordEnvelope[]>(keys.map((k) => [k, []]));

    for (let round = 0; round < ROUNDS; round++) {
      const sends: Promise<unknown>[] = [];
      for (const k of keys) {
        for (const [w, { endpoint, hlc }] of writers.entries()) {
          // Each writer reaches a quorum (R - 1 of the R homes), not always the same ones; a third of the writes delete.
          const missed = swarm.rng.int(R);
          const homes = homesOf(k).filter((_, i) => i !== missed);
          const envelope: RecordEnvelope = { k, v: hlc.now(), d: swarm.rng.int(3) === 0 ? null : { by: w, round } };
          written.get(k)!.push(envelope);
          sends.push(put(swarm, endpoint, envelope, homes));
        }
      }
      await swarm.settle(Promise.all(sends));
      await swarm.run(swarm.rng.int(50));
    }
    const newest = (k: string) => written.get(k)!.reduce((a, b) => (b.v > a.v ? b : a));
    const onEveryHome = (k: string, e: RecordEnvelope) =>
      swarm.cells.filter((c) => homesOf(k).includes(c.id)).every((c) => JSON.stringify(c.records.get(k)) === JSON.stringify(e));

    // Anti-entropy brings the homes a write missed up to date.
    await swarm.until(() => keys.every((k) => onEveryHome(k, newest(k))), 3 * swarm.config.heal.antiEntropyMs, 'every home holding the newest version', 50);
    t.pass();

    // Older copies sent again (a slow writer, a replay) change nothing, a tombstone included.
    const stale = keys.flatMap((k) => written.get(k)!.filter((e) => e.v < newest(k).v).map((e) => ({ k, e })));
    await swarm.settle(Promise.all(stale.map(({ k, e }) => put(swarm, swarm.client, e, homesOf(k)))));
    await swarm.run(1_000);
    for (const k of keys) t.true(onEveryHome(k, newest(k)), `${k} still at its newest version (${newest(k).d === null ? 'a tombstone' : 'live'})`);
    const tombstones = keys.filter((k) => newest(k).d === null);
    t.log(`${tombstones.length} of ${KEYS} keys ended deleted; ${stale.length} stale copies sent again`);
  });
}
