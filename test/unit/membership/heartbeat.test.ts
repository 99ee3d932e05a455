import test from 'ava';
import { randomBytes } from 'node:crypto';
import { SimClock, defaultConfig, newCellId, seededRng } from '../../../src/core/index.js';
import { HeartbeatMembership, type MembershipEvent } from '../../../src/membership/index.js';
import { Endpoint } from '../../../src/rpc/index.js';
import { SimNetwork } from '../../../src/transport/index.js';
import { KeyRing, Messages } from '../../../src/wire/index.js';

const SEED = Number(process.env.CELLSYNC_SEED ?? 7);

function cluster(n: number) {
  const clock = new SimClock();
  const rng = seededRng(SEED);
  const net = new SimNetwork({ clock, rng });
  const keys = new KeyRing([randomBytes(32)]);
  const config = defaultConfig();
  const events: (MembershipEvent & { at: number; observer: number })[] = [];
  const nodes = Array.from({ length: n }, (_, i) => {
    const addr = `10.0.0.${i + 1}:7400`; // simulated addresses: nothing is sent on a real network
    const endpoint = new Endpoint({ clock, rng, transport: net.transport(addr) }, { id: newCellId(), keys, wire: config.wire });
    const m = new HeartbeatMembership(
      { clock, rng, endpoint },
      {
        self: { id: endpoint.id, addr, incarnation: 1, role: 'storage', pid: 1, chunks: 0, bytes: 0, capacityBytes: 1 },
        seeds: i === 0 ? [] : ['10.0.0.1:7400'],
        config: config.membership,
      },
    );
    m.onEvent((e) => events.push({ ...e, at: clock.now(), observer: i }));
    return { addr, endpoint, m };
  });
  /** Advances simulated time in small steps, letting promise continuations run in between. */
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      await new Promise((r) => setImmediate(r));
    }
  };
  /** A cell that was not there at the start: a new id at `addr`, joining through the first member. */
  const joiner = async (addr: string) => {
    const endpoint = new Endpoint({ clock, rng, transport: net.transport(addr) }, { id: newCellId(), keys, wire: config.wire });
    const m = new HeartbeatMembership(
      { clock, rng, endpoint },
      { self: { id: endpoint.id, addr, incarnation: 1, role: 'stem', pid: 9, chunks: 0, bytes: 0, capacityBytes: 1 }, seeds: [nodes[0]!.addr], config: config.membership },
    );
    m.onEvent((e) => events.push({ ...e, at: clock.now(), observer: -1 }));
    const started = m.start();
    await run(100);
    await started;
    return { addr, endpoint, m };
  };
  return { clock, net, nodes, events, run, config, joiner };
}

async function startAll(c: ReturnType<typeof cluster>) {
  for (const node of c.nodes) {
    const started = node.m.start();
    await c.run(50);
    await started;
  }
}

const statesSeenBy = (c: ReturnType<typeof cluster>, i: number) =>
  Object.fromEntries(c.nodes[i]!.m.members().map((m) => [m.addr, m.state]));

test('joining through one seed teaches every member the whole swarm', async (t) => {
  const c = cluster(5);
  await startAll(c);
  await c.run(5_000);
  for (let i = 0; i < 5; i++) {
    const seen = statesSeenBy(c, i);
    t.is(Object.keys(seen).length, 5, `member ${i} knows everyone`);
    t.true(Object.values(seen).every((s) => s === 'alive'));
  }
});

test('a silent member is suspect after the timeout and dead within timeout + one heartbeat', async (t) => {
  const c = cluster(4);
  await startAll(c);
  await c.run(5_000);
  const victim = c.nodes[3]!;
  await victim.m.stop();
  await victim.endpoint.stop();
  const killedAt = c.clock.now();
  const { failureTimeoutMs, heartbeatIntervalMs } = c.config.membership;
  await c.run(failureTimeoutMs + heartbeatIntervalMs + 500);
  for (let i = 0; i < 3; i++) {
    const died = c.events.find((e) => e.observer === i && e.type === 'member-died' && e.member.addr === victim.addr);
    const suspected = c.events.find((e) => e.observer === i && e.type === 'member-suspected' && e.member.addr === victim.addr);
    t.truthy(suspected && died, `member ${i} saw the death`);
    t.true(died!.at - killedAt <= failureTimeoutMs + heartbeatIntervalMs, `dead ${died!.at - killedAt} ms after the kill`);
    t.true(suspected!.at - killedAt >= failureTimeoutMs - heartbeatIntervalMs, 'not suspected before the timeout');
    t.is(statesSeenBy(c, i)[victim.addr], 'dead');
  }
});

test('two lost heartbeats in a row never make a suspect', async (t) => {
  const c = cluster(3);
  await startAll(c);
  await c.run(5_000);
  const [a, b] = c.nodes;
  c.net.partition(a!.addr, b!.addr);
  await c.run(2_500); // at most two heartbeats lost each way: silence stays under 6 s, below the 7 s timeout
  c.net.heal();
  await c.run(10_000);
  t.deepEqual(
    c.events.filter((e) => e.type !== 'member-joined').map((e) => e.type),
    [],
  );
});

test('a partitioned member comes back alive when it is heard again', async (t) => {
  const c = cluster(3);
  await startAll(c);
  await c.run(3_000);
  const [a, , x] = c.nodes;
  c.net.partition(a!.addr, x!.addr);
  await c.run(12_000);
  t.is(statesSeenBy(c, 0)[x!.addr], 'dead');
  t.is(statesSeenBy(c, 1)[x!.addr], 'alive', 'the member that still hears it keeps it alive');
  c.net.heal();
  await c.run(3_000);
  t.is(statesSeenBy(c, 0)[x!.addr], 'alive');
  t.truthy(c.events.find((e) => e.observer === 0 && e.type === 'member-recovered'));
});

test('a restarted member with a higher incarnation replaces stale news', async (t) => {
  const c = cluster(2);
  await startAll(c);
  await c.run(3_000);
  const b = c.nodes[1]!;
  await b.m.stop();
  await c.run(10_000);
  t.is(statesSeenBy(c, 0)[b.addr], 'dead');
  const again = new HeartbeatMembership(
    { clock: c.clock, rng: seededRng(SEED + 1), endpoint: b.endpoint },
    {
      self: { id: b.endpoint.id, addr: b.addr, incarnation: 2, role: 'storage', pid: 2, chunks: 0, bytes: 0, capacityBytes: 1 },
      seeds: [c.nodes[0]!.addr],
      config: c.config.membership,
    },
  );
  const started = again.start();
  await c.run(100);
  await started;
  await c.run(3_000);
  const seen = c.nodes[0]!.m.get(b.endpoint.id)!;
  t.is(seen.state, 'alive');
  t.is(seen.incarnation, 2);
  t.is(seen.pid, 2);
});

test('a joiner takes a dead member as dead; a forgotten member stays gone until it speaks again', async (t) => {
  const c = cluster(3);
  await startAll(c);
  await c.run(3_000);
  const gone = c.nodes[2]!;
  await gone.m.stop();
  await c.run(12_000);
  t.is(statesSeenBy(c, 0)[gone.addr], 'dead');
  const late = await c.joiner('10.0.0.9:7400');
  t.is(late.m.get(gone.endpoint.id)?.state, 'dead', 'known dead at once, not alive until its silence is timed again');
  t.false(c.nodes[0]!.m.forget(c.nodes[1]!.endpoint.id), 'a live member is not forgotten');
  for (const m of [c.nodes[0]!.m, c.nodes[1]!.m, late.m]) t.true(m.forget(gone.endpoint.id));
  await c.run(5_000);
  const again = await c.joiner('10.0.0.10:7400');
  for (const m of [c.nodes[0]!.m, late.m, again.m]) t.is(m.get(gone.endpoint.id), undefined);
  const back = gone.m.start(); // it speaks again: back
  await c.run(100);
  await back;
  await c.run(3_000);
  t.is(c.nodes[0]!.m.get(gone.endpoint.id)?.state, 'alive');
});

test('a new cell at a member’s address (its data wiped, a new id) makes that member dead at once', async (t) => {
  const c = cluster(3);
  await startAll(c);
  await c.run(3_000);
  const old = c.nodes[2]!;
  await old.m.stop();
  await old.endpoint.stop();
  const replacedAt = c.clock.now();
  const fresh = await c.joiner(old.addr);
  await c.run(1_500);
  const died = c.events.find((e) => e.observer === 0 && e.type === 'member-died' && e.member.id === old.endpoint.id);
  t.truthy(died);
  t.true(died!.at - replacedAt < c.config.membership.failureTimeoutMs, `dead ${died!.at - replacedAt} ms after; the failure timeout is ${c.config.membership.failureTimeoutMs}`);
  t.is(c.nodes[1]!.m.get(fresh.endpoint.id)?.state, 'alive');
});

test('a member that leaves is held left everywhere, never dead by silence, and alive again when it speaks', async (t) => {
  const c = cluster(3);
  await startAll(c);
  await c.run(3_000);
  const x = c.nodes[2]!;
  const leaving = x.m.leave();
  await c.run(500);
  await leaving;
  await x.m.stop();
  for (let i = 0; i < 2; i++) t.is(statesSeenBy(c, i)[x.addr], 'left', `member ${i} holds it left`);
  await c.run(c.config.membership.failureTimeoutMs * 4);
  t.deepEqual(
    c.events.filter((e) => e.member.addr === x.addr && e.observer !== 2 && e.type !== 'member-joined').map((e) => e.type),
    ['member-left', 'member-left'],
    'left once on each, then nothing: not suspected, not dead',
  );
  // It speaks again (heartbeats at the same incarnation): alive, and told as recovered.
  const again = x.m.start();
  await c.run(100);
  await again;
  await c.run(3_000);
  for (let i = 0; i < 2; i++) t.is(statesSeenBy(c, i)[x.addr], 'alive');
  t.is(c.events.filter((e) => e.member.addr === x.addr && e.type === 'member-recovered').length, 2);
});

test('a LEAVE at an older incarnation, or from another sender, changes nothing', async (t) => {
  const c = cluster(3);
  await startAll(c);
  await c.run(3_000);
  const [a, b, x] = c.nodes;
  // Stale: x is at incarnation 1; a LEAVE of its incarnation 0 is old news.
  x!.endpoint.notice([a!.addr], Messages.LEAVE, { id: x!.endpoint.id, incarnation: 0 });
  // Forged: a cannot say that x left.
  a!.endpoint.notice([b!.addr], Messages.LEAVE, { id: x!.endpoint.id, incarnation: 5 });
  await c.run(500);
  t.is(statesSeenBy(c, 0)[x!.addr], 'alive');
  t.is(statesSeenBy(c, 1)[x!.addr], 'alive');
  t.false(c.events.some((e) => e.type === 'member-left'));
});
