import test, { type ExecutionContext } from 'ava';
import { SimClock, parseAddr, seededRng, type Addr } from '../../src/core/index.js';
import { SimNetwork, UdpTransport, type Transport } from '../../src/transport/index.js';

/**
 * One set of checks run against every Transport: what the rest of the code
 * relies on, whether datagrams travel over loopback UDP or the simulated
 * network.
 */
interface Harness {
  /** A new transport on a free port, closed at the end of the test. */
  open(t: ExecutionContext): Promise<Transport>;
  /** Lets time pass until cond holds (or a deadline, then false): real time for UDP, simulated for the sim network. */
  until(cond: () => boolean, ms: number): Promise<boolean>;
}

const udp: Harness = {
  async open(t) {
    const tr = await UdpTransport.bind({ host: '127.0.0.1', port: 0, socketBufferBytes: 1024 * 1024 });
    t.teardown(() => tr.close());
    return tr;
  },
  async until(cond, ms) {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 2));
    }
    return true;
  },
};

function sim(): Harness {
  const clock = new SimClock();
  const net = new SimNetwork({ clock, rng: seededRng(1) });
  return {
    async open(t) {
      const tr = net.transport('10.9.0.1:0');
      t.teardown(() => tr.close());
      return tr;
    },
    until: (cond, ms) => clock.runUntil(cond, ms),
  };
}

/** Receives into a list of [bytes, from]. */
function collect(tr: Transport): [Buffer, Addr][] {
  const got: [Buffer, Addr][] = [];
  tr.onDatagram((data, from) => got.push([Buffer.from(data), from]));
  return got;
}

/** How long a negative check waits for a datagram that must not come. */
const QUIET_MS = 50;

for (const [name, harness] of [['udp', () => udp], ['sim', sim]] as const) {
  test(`${name}: a transport has an address of its own, host:port with a port picked for it`, async (t) => {
    const h = harness();
    const [a, b] = [await h.open(t), await h.open(t)];
    const { port } = parseAddr(a.address);
    t.true(port > 0);
    t.not(a.address, b.address);
  });

  test(`${name}: a datagram arrives whole, with the sender's address`, async (t) => {
    const h = harness();
    const [a, b] = [await h.open(t), await h.open(t)];
    const got = collect(b);
    a.send(b.address, Buffer.from('hello'));
    t.true(await h.until(() => got.length === 1, 2_000));
    t.deepEqual(got[0], [Buffer.from('hello'), a.address]);
  });

  test(`${name}: several buffers go as one datagram, in order`, async (t) => {
    const h = harness();
    const [a, b] = [await h.open(t), await h.open(t)];
    const got = collect(b);
    const parts = [Buffer.from('head|'), Buffer.alloc(3_000, 7), Buffer.from('|tail')];
    a.send(b.address, parts);
    t.true(await h.until(() => got.length >= 1, 2_000));
    await h.until(() => false, QUIET_MS);
    t.is(got.length, 1, 'one datagram');
    t.deepEqual(got[0]![0], Buffer.concat(parts));
  });

  test(`${name}: after close nothing is delivered to it, and its sends are dropped without an error`, async (t) => {
    const h = harness();
    const [a, b] = [await h.open(t), await h.open(t)];
    const got = collect(b);
    const back = collect(a);
    await b.close();
    await b.close(); // idempotent
    a.send(b.address, Buffer.from('to a closed transport'));
    t.notThrows(() => b.send(a.address, Buffer.from('from a closed transport')));
    await h.until(() => false, QUIET_MS);
    t.deepEqual(got, []);
    t.deepEqual(back, []);
    t.is(a.sendErrors, 0, 'a send to an address nobody listens on is not an error');
  });

  test(`${name}: a send to an address that does not parse is counted in sendErrors, not thrown`, async (t) => {
    const h = harness();
    const a = await h.open(t);
    t.is(a.sendErrors, 0);
    t.notThrows(() => a.send('not an address', Buffer.from('x')));
    t.is(a.sendErrors, 1);
  });

  test(`${name}: many datagrams both ways all arrive (no loss configured)`, async (t) => {
    const h = harness();
    const [a, b] = [await h.open(t), await h.open(t)];
    const [atA, atB] = [collect(a), collect(b)];
    for (let i = 0; i < 50; i++) {
      a.send(b.address, Buffer.from([i]));
      b.send(a.address, Buffer.from([i]));
    }
    t.true(await h.until(() => atA.length === 50 && atB.length === 50, 2_000));
    t.deepEqual(atB.map(([d]) => d[0]).sort((x, y) => x! - y!), Array.from({ length: 50 }, (_, i) => i));
  });
}

for (const [name, harness] of [['udp', () => udp], ['sim', sim]] as const) {
  test(`${name}: a watched send to an address nobody listens on is reported unreachable`, async (t) => {
    const h = harness();
    const [a, b] = [await h.open(t), await h.open(t)];
    const gone = b.address;
    await b.close();
    const reported: Addr[] = [];
    a.onUnreachable((addr) => reported.push(addr));
    a.send(gone, Buffer.from('are you there?'), { watch: true });
    t.true(await h.until(() => reported.length > 0, 2_000));
    t.deepEqual(reported, [gone]);
    t.is(a.sendErrors, 0, 'evidence of a death is not a send error');
  });

  test(`${name}: a watched send arrives whole, and the answer to where it came from reaches the sender`, async (t) => {
    const h = harness();
    const [a, b] = [await h.open(t), await h.open(t)];
    const [atA, atB] = [collect(a), collect(b)];
    const reported: Addr[] = [];
    a.onUnreachable((addr) => reported.push(addr));
    a.send(b.address, [Buffer.from('ping|'), Buffer.from('1')], { watch: true });
    t.true(await h.until(() => atB.length === 1, 2_000));
    t.deepEqual(atB[0]![0], Buffer.from('ping|1'));
    b.send(atB[0]![1], Buffer.from('ack'));
    t.true(await h.until(() => atA.length === 1, 2_000));
    t.deepEqual(atA[0], [Buffer.from('ack'), b.address]);
    await h.until(() => false, QUIET_MS);
    t.deepEqual(reported, [], 'a live peer is never reported');
  });
}

test('sim: an isolated (crashed) host draws no unreachable report, and a slow cell is slow both ways', async (t) => {
  const clock = new SimClock();
  const net = new SimNetwork({ clock, rng: seededRng(2) });
  const [a, b, c] = ['10.9.0.1:1', '10.9.0.2:1', '10.9.0.3:1'].map((addr) => net.transport(addr));
  const reported: Addr[] = [];
  a!.onUnreachable((addr) => reported.push(addr));
  net.isolate(b!.address);
  await b!.close();
  a!.send(b!.address, Buffer.from('x'), { watch: true });
  t.false(await clock.runUntil(() => reported.length > 0, 1_000));
  const got = collect(c!);
  net.slow(c!.address, 500);
  const t0 = clock.now();
  for (let i = 0; i < 20; i++) a!.send(c!.address, Buffer.from([i]));
  t.true(await clock.runUntil(() => got.length === 20, 2_000));
  t.true(clock.now() - t0 > 100, 'held back by up to 500 ms');
  net.heal(c!.address);
  const t1 = clock.now();
  a!.send(c!.address, Buffer.from('fast'));
  t.true(await clock.runUntil(() => got.length === 21, 2_000));
  t.true(clock.now() - t1 <= 1, 'healed: the network delay only');
});
