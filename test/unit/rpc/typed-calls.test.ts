import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { CellError, chunkKeyOf, defaultConfig, newCellId, systemClock, systemRng } from '../../../src/core/index.js';
import { Endpoint } from '../../../src/rpc/index.js';
import { UdpTransport } from '../../../src/transport/index.js';
import { KeyRing, MessageType, Messages } from '../../../src/wire/index.js';

const keys = new KeyRing([randomBytes(32)]);

async function endpoint(t: ExecutionContext) {
  const wire = defaultConfig().wire;
  const transport = await UdpTransport.bind({ host: '127.0.0.1', port: 0, socketBufferBytes: wire.socketBufferBytes });
  const ep = new Endpoint({ clock: systemClock, rng: systemRng, transport }, { id: newCellId(), keys, wire });
  t.teardown(() => ep.stop());
  return ep;
}

test('a typed call gets its decoded answer, and the handler its decoded request', async (t) => {
  const server = await endpoint(t);
  const client = await endpoint(t);
  const k1 = chunkKeyOf(Buffer.from('a'));
  const k2 = chunkKeyOf(Buffer.from('b'));
  let seen: string[] = [];
  server.serve(Messages.CHUNK_HAS, (asked) => {
    seen = asked;
    return asked.map((k) => k === k2);
  });
  t.deepEqual(await client.call(server.address, Messages.CHUNK_HAS, [k1, k2]), [false, true]);
  t.deepEqual(seen, [k1, k2]);
  server.serve(Messages.FORGET, async (q, incoming) => ({ forgotten: q.id === incoming.sender }));
  t.deepEqual(await client.call(server.address, Messages.FORGET, { id: client.id }), { forgotten: true });
});

test('a malformed request is answered BAD_REQUEST without reaching the handler; a malformed answer rejects the call with BAD_REQUEST', async (t) => {
  const server = await endpoint(t);
  const client = await endpoint(t);
  let reached = false;
  server.serve(Messages.FAULTS, () => {
    reached = true;
  });
  const bad = await t.throwsAsync(client.request(server.address, MessageType.FAULTS, Buffer.from('{"lossRate":2,"dupRate":0,"reorderRate":0}')));
  t.is((bad as CellError).code, 'BAD_REQUEST');
  t.true((bad as CellError).remote);
  t.false(reached);
  // A cell of buggy code answering STATUS with something else.
  server.handle(MessageType.STATUS, () => Buffer.from('{"id":"nope"}'));
  const malformed = await t.throwsAsync(client.call(server.address, Messages.STATUS, undefined));
  t.true(malformed instanceof CellError);
  t.is((malformed as CellError).code, 'BAD_REQUEST');
  t.is((malformed as CellError).peer, server.address);
});

test('a typed notice reaches its listener decoded; a malformed one is dropped and counted', async (t) => {
  const a = await endpoint(t);
  const b = await endpoint(t);
  const k = chunkKeyOf(Buffer.from('c'));
  const heard: unknown[] = [];
  b.onNotice(Messages.CONFIRMED, (c) => heard.push(c));
  const c = { accused: a.id, key: k, digestSeen: 'corrupt', reporter: a.id, confirmer: a.id };
  a.notify(b.address, MessageType.CONFIRMED, Buffer.from('{"accused":1}'));
  a.notice([b.address], Messages.CONFIRMED, c);
  for (let i = 0; i < 100 && (heard.length === 0 || !b.counters.dropped.body); i++) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(heard, [c]);
  t.is(b.counters.dropped.body, 1);
});
