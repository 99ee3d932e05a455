import test from 'ava';
import { SimClock, defaultConfig, seededRng, type CellError } from '../../../src/core/index.js';
import { Endpoint } from '../../../src/rpc/index.js';
import { SimNetwork } from '../../../src/transport/index.js';
import { KeyRing, MessageType } from '../../../src/wire/index.js';

test('what handle and onNotify return removes that handler only, never one registered after it for the same type', async (t) => {
  const clock = new SimClock();
  const rng = seededRng(3);
  const net = new SimNetwork({ clock, rng });
  const keys = new KeyRing([Buffer.alloc(32, 9)]);
  const make = (addr: string, id: string) => new Endpoint({ clock, rng, transport: net.transport(addr) }, { id, keys, wire: defaultConfig().wire });
  const [server, client] = [make('10.1.0.1:7400', '00000000000000a1'), make('10.1.0.2:7400', '00000000000000a2')];
  t.teardown(async () => {
    await server.stop();
    await client.stop();
  });
  const unhandleFirst = server.handle(MessageType.PING, () => Buffer.from('first'));
  const unhandlePong = server.handle(MessageType.PING, () => Buffer.from('pong'));
  unhandleFirst();
  t.is((await clock.runWhile(client.request(server.address, MessageType.PING, Buffer.alloc(0)), 5_000)).toString(), 'pong', 'a replaced handler removes nothing');
  unhandlePong();
  const refused = await clock.runWhile(client.request(server.address, MessageType.PING, Buffer.alloc(0)), 5_000).catch((e: unknown) => e);
  t.is((refused as CellError).code, 'BAD_REQUEST', 'no handler: an unknown type');

  let heard = 0;
  const offFirst = server.onNotify(MessageType.HEARTBEAT, () => undefined);
  const offCounting = server.onNotify(MessageType.HEARTBEAT, () => void heard++);
  offFirst();
  client.notify(server.address, MessageType.HEARTBEAT, Buffer.from('{}'));
  await clock.run(100);
  offCounting();
  client.notify(server.address, MessageType.HEARTBEAT, Buffer.from('{}'));
  await clock.run(100);
  t.is(heard, 1);
});
