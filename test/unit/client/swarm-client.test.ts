import test from 'ava';
import { randomBytes } from 'node:crypto';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { SwarmClient } from '../../../src/client/index.js';
import { SimClock, defaultConfig, newCellId, seededRng } from '../../../src/core/index.js';
import { Endpoint } from '../../../src/rpc/index.js';
import { SimNetwork } from '../../../src/transport/index.js';
import { KeyRing, MessageType } from '../../../src/wire/index.js';

const encodeJson = (value: unknown) => Buffer.from(JSON.stringify(value));

/** Runs simulated time a millisecond at a time, letting promises settle between, until `p` settles (or 10 simulated seconds pass). */
async function settle<T>(clock: SimClock, p: Promise<T>): Promise<T> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let ms = 0; ms < 10_000 && !done; ms++) {
    clock.advance(1);
    await nextMacrotask();
  }
  return p;
}

test('a client built from its components runs on the simulated network and its clock: the member list is reused for a second of that clock', async (t) => {
  const clock = new SimClock();
  const rng = seededRng(16);
  const net = new SimNetwork({ clock, rng });
  const swarmKey = randomBytes(32);
  const wire = defaultConfig().wire;
  const cell = new Endpoint({ clock, rng, transport: net.transport('10.0.0.1:7400') }, { id: newCellId(), keys: new KeyRing([swarmKey]), wire });
  t.teardown(() => cell.stop());
  let asked = 0;
  const member = { id: newCellId(), addr: '10.0.0.1:7400', incarnation: 1, role: 'storage', pid: 1, chunks: 0, bytes: 0, capacityBytes: 1 << 30, state: 'alive', lastHeardMs: 0 };
  cell.handle(MessageType.MEMBERS, () => {
    asked++;
    return encodeJson([member]);
  });
  const client = new SwarmClient({ transport: net.transport('10.0.0.2:1'), clock, rng }, { swarmKey, seeds: [member.addr], wire });
  t.teardown(() => client.close());

  const members = await settle(clock, client.members());
  t.deepEqual(
    members.map((m) => [m.id, m.role, m.state]),
    [[member.id, 'storage', 'alive']],
  );
  t.is(asked, 1);
  clock.advance(500);
  await client.members();
  t.is(asked, 1, 'reused within a second of the simulated clock');
  clock.advance(600);
  await settle(clock, client.members());
  t.is(asked, 2, 'asked again after it');
  t.is(client.chunkLeavesNow('ab'.repeat(32), 'root', 0, 1), null, 'no local disk: nothing is read at hand');
});
