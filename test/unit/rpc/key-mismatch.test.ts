import test from 'ava';
import { randomBytes } from 'node:crypto';
import { SimClock, defaultConfig, newCellId, seededRng } from '../../../src/core/index.js';
import { Endpoint } from '../../../src/rpc/index.js';
import { SimNetwork } from '../../../src/transport/index.js';
import { KeyRing, MessageType } from '../../../src/wire/index.js';

function pair(t: import('ava').ExecutionContext, sameKey: boolean) {
  const clock = new SimClock();
  const rng = seededRng(7);
  const net = new SimNetwork({ clock, rng });
  const wire = defaultConfig().wire;
  const cellKeys = new KeyRing([randomBytes(32)]);
  const clientKeys = sameKey ? cellKeys : new KeyRing([randomBytes(32)]);
  const cell = new Endpoint({ clock, rng, transport: net.transport('10.3.0.1:7400') }, { id: newCellId(), keys: cellKeys, wire });
  const client = new Endpoint({ clock, rng, transport: net.transport('10.3.0.2:7400') }, { id: newCellId(), keys: clientKeys, wire });
  cell.handle(MessageType.PING, () => Buffer.alloc(0));
  t.teardown(async () => {
    await cell.stop();
    await client.stop();
  });
  return { clock, cell, client };
}

test('a request under another key is answered by a frame the client cannot verify: the client knows the cell holds another key', async (t) => {
  const { clock, cell, client } = pair(t, false);
  await t.throwsAsync(clock.runWhile(client.request(cell.address, MessageType.PING, Buffer.alloc(0), { timeoutMs: 2_000 }), 5_000), { message: /timed out|TIMEOUT/i });
  t.deepEqual(client.unverifiedFrom([cell.address, '10.3.0.9:7400']), [cell.address]);
  t.true((cell.counters.dropped.tag ?? 0) >= 2, 'the request and its retransmissions dropped');
  // One answer per second per source, though the client retransmitted within that second; and the client,
  // which cannot verify the answer either, does not answer it (a notice is never answered): no ping-pong.
  t.true((client.counters.dropped.tag ?? 0) <= 3, `answers ${client.counters.dropped.tag}`);
  t.is(cell.unverifiedFrom([client.address]).length, 1);
  t.is(cell.counters.dropped.tag, client.counters.framesSent, 'every frame the client sent was a request the cell could not verify');
  // The notice goes stale: a client that later reaches the right cells does not keep blaming the key.
  await clock.advance(31_000);
  t.deepEqual(client.unverifiedFrom([cell.address]), []);
});

test('with the same key nothing is unverifiable', async (t) => {
  const { clock, cell, client } = pair(t, true);
  await clock.runWhile(client.request(cell.address, MessageType.PING, Buffer.alloc(0)), 5_000);
  t.deepEqual(client.unverifiedFrom([cell.address]), []);
  t.is(cell.counters.dropped.tag, undefined);
});
