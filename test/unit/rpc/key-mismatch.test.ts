import test from 'ava';
import { randomBytes } from 'node:crypto';
import { SimClock, defaultConfig, newCellId, seededRng } from '../../../src/core/index.js';
import { Endpoint } from '../../../src/rpc/index.js';
import { KeyMismatch } from '../../../src/rpc/key-mismatch.js';
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

test('answers are limited per source and in all: spoofed sources cannot make a cell send many', (t) => {
  const clock = new SimClock();
  const mismatch = new KeyMismatch(clock);
  const request = Buffer.alloc(24);
  request.writeUInt32BE(9, 16); // a request id: a request, which may be answered
  const answered = (from: string) => mismatch.unverified(request, from);
  t.true(answered('10.3.0.2:7400'));
  t.false(answered('10.3.0.2:7400'), 'a second frame from one source within a second is not answered');
  let inAll = 1;
  for (let i = 0; i < 200; i++) if (answered(`10.3.1.${i}:7400`)) inAll++;
  t.is(inAll, 50, 'at most 50 answers a second in all');
  clock.advance(1_000);
  t.true(answered('10.3.0.2:7400'), 'a second later the first source is answered again');
  let next = 0;
  for (let i = 0; i < 200; i++) if (answered(`10.3.2.${i}:7400`)) next++;
  t.is(next, 49, 'and the rest of a second worth of answers');
  const notice = Buffer.alloc(24); // request id 0: a one-way notice is never answered
  t.false(mismatch.unverified(notice, '10.3.9.9:7400'));
});
