import test from 'ava';
import { randomBytes } from 'node:crypto';
import { SimClock, defaultConfig, newCellId, seededRng, type MembershipConfig } from '../../../src/core/index.js';
import { SwimMembership, type MemberInfo, type MembershipEvent } from '../../../src/membership/index.js';
import { Endpoint } from '../../../src/rpc/index.js';
import { SimNetwork } from '../../../src/transport/index.js';
import { KeyRing, Messages, MessageType } from '../../../src/wire/index.js';

/** Every scenario runs on several seeds: a protocol that only works on one is not working. */
const SEEDS = process.env.CELLSYNC_SEED ? [Number(process.env.CELLSYNC_SEED)] : [7, 11, 23];

type Observed = MembershipEvent & { at: number; observer: number };

function cluster(n: number, seed: number, tune: (c: ReturnType<typeof defaultConfig>) => void = () => {}) {
  const clock = new SimClock();
  const rng = seededRng(seed);
  const net = new SimNetwork({ clock, rng });
  const keys = new KeyRing([randomBytes(32)]);
  const config = defaultConfig();
  tune(config);
  const events: Observed[] = [];
  const make = (addr: string, observer: number, seeds: string[], incarnation = 1, endpoint?: Endpoint, left?: MemberInfo[]) => {
    endpoint ??= new Endpoint({ clock, rng, transport: net.transport(addr) }, { id: newCellId(), keys, wire: config.wire });
    const m = new SwimMembership(
      { clock, rng, endpoint },
      {
        self: { id: endpoint.id, addr, incarnation, role: 'storage', pid: observer + 1, chunks: 0, bytes: 0, capacityBytes: 1 },
        seeds,
        config: config.membership,
        left,
      },
    );
    m.onEvent((e) => events.push({ ...e, at: clock.now(), observer }));
    return { addr, endpoint, m };
  };
  const nodes = Array.from({ length: n }, (_, i) => make(`10.0.${i >> 8}.${(i & 255) + 1}:7400`, i, i === 0 ? [] : ['10.0.0.1:7400']));
  /** Advances simulated time in small steps, letting promise continuations run in between. */
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      await new Promise((r) => setImmediate(r));
    }
  };
  /** Runs until `done` holds (checked every 10 ms), at most `ms`; returns the time it took. */
  const until = async (done: () => boolean, ms: number) => {
    const from = clock.now();
    while (!done() && clock.now() - from < ms) await run(10);
    return clock.now() - from;
  };
  /** Starts a member and runs the clock until its join is done. */
  const start = async (m: SwimMembership) => {
    let done = false;
    const started = m.start().then(() => (done = true));
    await until(() => done, 5_000);
    await started;
  };
  const startAll = async () => {
    for (const node of nodes) await start(node.m);
  };
  const stateOf = (observer: number, addr: string) => nodes[observer]!.m.members().find((m) => m.addr === addr)?.state;
  const others = (x: { addr: string }) => nodes.map((node, i) => ({ node, i })).filter(({ node }) => node.addr !== x.addr);
  return { clock, net, nodes, events, run, until, start, startAll, stateOf, others, config: config.membership as MembershipConfig, make, keys };
}

const everyoneKnowsEveryone = (c: ReturnType<typeof cluster>) =>
  c.nodes.every(({ m }) => m.members().length === c.nodes.length && m.members().every((x) => x.state === 'alive'));

test('joining through one seed teaches every member the whole swarm, with no false suspicion', async (t) => {
  for (const seed of SEEDS) {
    const c = cluster(12, seed);
    await c.startAll();
    await c.until(() => everyoneKnowsEveryone(c), 5_000);
    t.true(everyoneKnowsEveryone(c), `seed ${seed}: every member knows every other alive`);
    await c.run(20_000);
    t.deepEqual(c.events.filter((e) => e.type !== 'member-joined'), [], `seed ${seed}: nothing but joins`);
  }
});

test('1,200-byte datagrams: news still fits and the swarm converges', async (t) => {
  const c = cluster(30, SEEDS[0]!, (cfg) => (cfg.wire.datagramBytesMax = 1_200));
  await c.startAll();
  t.true((await c.until(() => everyoneKnowsEveryone(c), 15_000)) < 15_000);
  const victim = c.nodes[7]!;
  await victim.endpoint.stop();
  await c.until(() => c.others(victim).every(({ i }) => c.stateOf(i, victim.addr) === 'dead'), 10_000);
  t.true(c.others(victim).every(({ i }) => c.stateOf(i, victim.addr) === 'dead'));
});

test('piggybacked news stays within piggybackBytesMax on 60 KiB datagrams, and the swarm converges', async (t) => {
  const c = cluster(40, SEEDS[0]!, (cfg) => (cfg.membership.piggybackBytesMax = 1_000));
  let largest = 0;
  for (const { endpoint } of c.nodes) {
    const notice = endpoint.notice.bind(endpoint);
    endpoint.notice = (to, spec, value, opts) => {
      const parts = [spec.body.encode(value)].flat();
      largest = Math.max(largest, parts.reduce((n, b) => n + b.length, 0));
      notice(to, spec, value, opts);
    };
  }
  await c.startAll();
  t.true((await c.until(() => everyoneKnowsEveryone(c), 30_000)) < 30_000, 'converged');
  t.true(largest > 500 && largest <= 1_000, `largest probe, ack or gossip body: ${largest} bytes`);
});

test('a killed cell (nothing listens at its port) is dead everywhere within about a second', async (t) => {
  for (const seed of SEEDS) {
    const c = cluster(10, seed);
    await c.startAll();
    await c.run(3_000);
    const victim = c.nodes[4]!;
    await victim.m.stop();
    await victim.endpoint.stop();
    const took = await c.until(() => c.others(victim).every(({ i }) => c.stateOf(i, victim.addr) === 'dead'), 10_000);
    t.true(took <= 1_500, `seed ${seed}: dead everywhere ${took} ms after the kill`);
    t.is(c.events.filter((e) => e.type === 'member-died' && e.member.addr !== victim.addr).length, 0, 'nobody else died');
    // A death is final: a probe that was under way, or news that comes late, never makes it suspect again.
    await c.run(5_000);
    for (const { i } of c.others(victim)) {
      const about = c.events.filter((e) => e.observer === i && e.member.addr === victim.addr).map((e) => e.type);
      t.is(about.at(-1), 'member-died', `seed ${seed}: member ${i} saw ${about.join(', ')}`);
    }
  }
});

test('a hung cell (no answer, no evidence) is suspected within 3 probe periods and dead everywhere later', async (t) => {
  for (const seed of SEEDS) {
    const c = cluster(10, seed);
    await c.startAll();
    await c.run(3_000);
    const victim = c.nodes[2]!;
    c.net.isolate(victim.addr);
    const hungAt = c.clock.now();
    await c.until(() => c.events.some((e) => e.type === 'member-suspected' && e.member.addr === victim.addr), 5_000);
    const suspected = c.events.find((e) => e.type === 'member-suspected' && e.member.addr === victim.addr);
    t.truthy(suspected, `seed ${seed}: suspected`);
    t.true(suspected!.at - hungAt <= 3 * c.config.probeIntervalMs, `seed ${seed}: suspected ${suspected!.at - hungAt} ms after it hung`);
    const took = await c.until(() => c.others(victim).every(({ i }) => c.stateOf(i, victim.addr) === 'dead'), 20_000);
    t.true(took < 20_000, `seed ${seed}: dead everywhere`);
    t.is(c.events.filter((e) => e.type === 'member-died' && e.member.addr !== victim.addr).length, 0, 'nobody else died');
  }
});

test('a suspected cell refutes with a higher incarnation and is never declared dead', async (t) => {
  for (const seed of SEEDS) {
    const c = cluster(8, seed);
    await c.startAll();
    await c.run(3_000);
    const x = c.nodes[5]!;
    c.net.isolate(x.addr);
    await c.until(() => c.events.some((e) => e.type === 'member-suspected' && e.member.addr === x.addr), 5_000);
    c.net.heal(x.addr);
    await c.until(() => c.others(x).every(({ i }) => c.stateOf(i, x.addr) === 'alive'), 10_000);
    t.true(c.others(x).every(({ i }) => c.stateOf(i, x.addr) === 'alive'), `seed ${seed}: alive again everywhere`);
    t.true(x.m.members()[0]!.incarnation > 1, 'it refuted at a higher incarnation');
    t.true(x.m.counters.refuted > 0);
    await c.run(10_000);
    t.is(c.events.filter((e) => e.type === 'member-died').length, 0, `seed ${seed}: no death`);
  }
});

test('5% loss everywhere: no member is declared dead', async (t) => {
  for (const seed of SEEDS) {
    const c = cluster(10, seed);
    await c.startAll();
    await c.run(2_000);
    c.net.lossRate = 0.05;
    await c.run(180_000);
    t.log(`seed ${seed}: ${c.events.filter((e) => e.type === 'member-suspected').length} suspicions in 3 simulated minutes, all refuted`);
    t.deepEqual(c.events.filter((e) => e.type === 'member-died').map((e) => `${e.observer} ${e.member.addr}`), [], `seed ${seed}`);
  }
});

test('a cut direct link: the indirect probes get through and nobody is suspected', async (t) => {
  for (const seed of SEEDS) {
    const c = cluster(6, seed);
    await c.startAll();
    await c.run(3_000);
    const [a, , x] = c.nodes;
    c.net.partition(a!.addr, x!.addr);
    await c.run(30_000);
    t.deepEqual(c.events.filter((e) => e.type !== 'member-joined').map((e) => `${e.observer} ${e.type} ${e.member.addr}`), [], `seed ${seed}`);
  }
});

test('a partition that heals: both sides converge, nobody stays dead', async (t) => {
  for (const seed of SEEDS) {
    const c = cluster(8, seed);
    await c.startAll();
    await c.run(3_000);
    const left = c.nodes.slice(0, 4);
    const right = c.nodes.slice(4);
    for (const a of left) for (const b of right) c.net.partition(a.addr, b.addr);
    await c.run(30_000);
    t.is(c.stateOf(0, right[0]!.addr), 'dead', `seed ${seed}: the other side is dead during the partition`);
    t.is(c.stateOf(0, left[1]!.addr), 'alive', 'this side alive');
    c.net.heal();
    const took = await c.until(() => everyoneKnowsEveryone(c), 60_000);
    t.true(everyoneKnowsEveryone(c), `seed ${seed}: everyone alive everywhere again (${took} ms after the heal)`);
  }
});

test('a slow cell is not declared dead and gets no healthy cell declared dead (local health)', async (t) => {
  for (const seed of SEEDS) {
    const c = cluster(8, seed);
    await c.startAll();
    await c.run(3_000);
    const slow = c.nodes[3]!;
    c.net.slow(slow.addr, 400);
    let unhealthiest = 0;
    for (let s = 0; s < 60; s++) {
      await c.run(1_000);
      unhealthiest = Math.max(unhealthiest, slow.m.health);
    }
    t.deepEqual(c.events.filter((e) => e.type === 'member-died').map((e) => `${e.observer} ${e.member.addr}`), [], `seed ${seed}: no death`);
    t.true(unhealthiest > 0, `seed ${seed}: the slow cell knew it was the slow one (health ${unhealthiest})`);
    t.true(c.nodes.every((n) => n === slow || n.m.health === 0), 'the others stay healthy');
  }
});

test('gossip buffers stay bounded; push-pull brings what they dropped', async (t) => {
  const c = cluster(40, SEEDS[0]!, (cfg) => {
    cfg.membership.gossipQueueMax = 4;
    cfg.membership.pushPullIntervalMs = 2_000;
  });
  let most = 0;
  for (const node of c.nodes) {
    await c.start(node.m);
    for (const n of c.nodes) most = Math.max(most, n.m.queuedNews);
  }
  t.true(most <= 4, `at most ${most} news queued`);
  const took = await c.until(() => everyoneKnowsEveryone(c), 60_000);
  t.true(everyoneKnowsEveryone(c), `converged in ${took} ms`);
});

test('leave: peers hold the cell left (not dead) and take it back when it speaks again', async (t) => {
  const c = cluster(6, SEEDS[0]!);
  await c.startAll();
  await c.run(3_000);
  const x = c.nodes[2]!;
  const leaving = x.m.leave();
  await c.run(1_000);
  await leaving;
  await x.m.stop();
  await c.until(() => c.others(x).every(({ i }) => c.stateOf(i, x.addr) === 'left'), 2_000);
  t.true(c.others(x).every(({ i }) => c.stateOf(i, x.addr) === 'left'), 'left everywhere');
  await c.run(30_000);
  t.false(c.events.some((e) => e.member.addr === x.addr && (e.type === 'member-died' || e.type === 'member-suspected')), 'never suspected nor dead');
  const back = c.make(x.addr, 2, [c.nodes[0]!.addr], 2, x.endpoint);
  await c.start(back.m);
  await c.until(() => c.others(x).every(({ i }) => c.stateOf(i, x.addr) === 'alive'), 5_000);
  t.true(c.others(x).every(({ i }) => c.stateOf(i, x.addr) === 'alive'), 'alive again everywhere');
  t.true(c.events.some((e) => e.type === 'member-recovered' && e.member.addr === x.addr));
});

test('a cell restarted in a running swarm holds what it remembered as left only until it hears otherwise, and tells nobody so', async (t) => {
  for (const seed of SEEDS) {
    const c = cluster(6, seed);
    await c.startAll();
    await c.run(3_000);
    const x = c.nodes[2]!;
    // As a cell stops in order: it leaves, and remembers the others (cell/remembered-members.ts).
    const remembered: MemberInfo[] = x.m.members().filter((m) => m.addr !== x.addr);
    const leaving = x.m.leave();
    await c.run(1_000);
    await leaving;
    await x.m.stop();
    const restartedAt = c.clock.now();
    const back = c.make(x.addr, 2, [c.nodes[0]!.addr], 2, x.endpoint, remembered);
    await c.start(back.m);
    t.true(back.m.members().every((m) => m.state === 'alive'), `seed ${seed}: the JOIN answer brings every remembered member back at once`);
    await c.run(20_000);
    const falseNews = c.events.filter((e) => e.at >= restartedAt && e.member.addr !== x.addr && e.type !== 'member-joined' && e.type !== 'member-recovered');
    t.deepEqual(falseNews.map((e) => `${e.observer} saw ${e.member.addr} ${e.type}`), [], `seed ${seed}: no live member taken for left or dead`);
    t.true(c.nodes.every(({ m }) => m.members().every((m) => m.state === 'alive')), `seed ${seed}: everyone alive everywhere`);
  }
});

test('a cell restarted alone holds the members it remembered as left, expected back, and takes each back when it speaks', async (t) => {
  const c = cluster(3, SEEDS[0]!);
  await c.startAll();
  await c.run(3_000);
  const remembered: MemberInfo[] = c.nodes[0]!.m.members().filter((m) => m.addr !== c.nodes[0]!.addr);
  for (const { m } of c.nodes) await m.stop();
  const first = c.make(c.nodes[0]!.addr, 0, [], 2, c.nodes[0]!.endpoint, remembered);
  await c.start(first.m);
  t.deepEqual(first.m.members().filter((m) => m.addr !== first.addr).map((m) => m.state), ['left', 'left'], 'away, not dead, not alive');
  await c.run(30_000);
  t.true(first.m.members().filter((m) => m.addr !== first.addr).every((m) => m.state === 'left'), 'never timed out as dead');
  const second = c.make(c.nodes[1]!.addr, 1, [first.addr], 2, c.nodes[1]!.endpoint);
  await c.start(second.m);
  await c.until(() => first.m.get(c.nodes[1]!.endpoint.id)?.state === 'alive', 5_000);
  t.is(first.m.get(c.nodes[1]!.endpoint.id)?.state, 'alive', 'back when it speaks');
  await c.run(20_000);
  t.is(first.m.get(c.nodes[2]!.endpoint.id)?.state, 'left', 'the one still away is still held left');
  t.is(second.m.get(c.nodes[2]!.endpoint.id), undefined, 'and only by the cell that remembered it: an assumption is not news');
});

test('a quarantine spreads to every member and lasts until a higher incarnation', async (t) => {
  const c = cluster(6, SEEDS[0]!);
  await c.startAll();
  await c.run(3_000);
  const x = c.nodes[4]!;
  c.nodes[0]!.m.quarantine(x.endpoint.id, 1);
  await c.until(() => c.others(x).every(({ i }) => c.stateOf(i, x.addr) === 'quarantined'), 5_000);
  t.true(c.others(x).every(({ node }) => node.m.isQuarantined(x.endpoint.id) && node.m.get(x.endpoint.id)?.state === 'quarantined'));
  await c.run(10_000);
  t.true(c.others(x).every(({ i }) => c.stateOf(i, x.addr) === 'quarantined'), 'sticky: not dead, not alive');
  await x.m.stop();
  const back = c.make(x.addr, 4, [c.nodes[0]!.addr], 2, x.endpoint);
  await c.start(back.m);
  await c.until(() => c.others(x).every(({ i }) => c.stateOf(i, x.addr) === 'alive'), 10_000);
  t.true(c.others(x).every(({ node }) => !node.m.isQuarantined(x.endpoint.id)), 'lifted everywhere');
  t.true(c.events.some((e) => e.type === 'quarantine-lifted'));
});

test('a forgotten member stays gone until it speaks again; a joiner takes a dead member as dead', async (t) => {
  const c = cluster(4, SEEDS[0]!);
  await c.startAll();
  await c.run(3_000);
  const gone = c.nodes[3]!;
  await gone.m.stop();
  await gone.endpoint.stop();
  await c.until(() => c.others(gone).every(({ i }) => c.stateOf(i, gone.addr) === 'dead'), 10_000);
  const late = c.make('10.0.0.99:7400', 99, [c.nodes[0]!.addr]);
  await c.start(late.m);
  t.is(late.m.get(gone.endpoint.id)?.state, 'dead', 'known dead at once');
  t.false(c.nodes[0]!.m.forget(c.nodes[1]!.endpoint.id), 'a live member is not forgotten');
  for (const m of [c.nodes[0]!.m, c.nodes[1]!.m, c.nodes[2]!.m, late.m]) t.true(m.forget(gone.endpoint.id));
  await c.run(30_000); // push-pulls and gossip from everyone: second-hand news of it is ignored
  for (const m of [c.nodes[0]!.m, c.nodes[1]!.m, late.m]) t.is(m.get(gone.endpoint.id), undefined);
});

test('a new cell at a member’s address (a new id) makes that member dead at once', async (t) => {
  const c = cluster(4, SEEDS[0]!);
  await c.startAll();
  await c.run(3_000);
  const old = c.nodes[2]!;
  c.net.isolate(old.addr); // hung, then replaced: no evidence of its death but the newcomer
  await old.m.stop();
  await old.endpoint.stop();
  c.net.heal(old.addr);
  const replacedAt = c.clock.now();
  const fresh = c.make(old.addr, 9, [c.nodes[0]!.addr]);
  await c.start(fresh.m);
  const died = c.events.find((e) => e.observer === 0 && e.type === 'member-died' && e.member.id === old.endpoint.id);
  t.truthy(died);
  t.true(died!.at - replacedAt < 500, `dead ${died!.at - replacedAt} ms after`);
  await c.until(() => c.nodes[1]!.m.get(fresh.endpoint.id)?.state === 'alive', 5_000);
  t.is(c.nodes[1]!.m.get(fresh.endpoint.id)?.state, 'alive');
});

test('garbled, forged and stale news is dropped and counted; nothing changes', async (t) => {
  const c = cluster(3, SEEDS[0]!);
  await c.startAll();
  await c.run(3_000);
  const [a, b, x] = c.nodes;
  const target = x!.m.members()[0]!;
  // Garbled: a body that does not parse, and an update with a field it must not have.
  const dropsBefore = a!.endpoint.counters.dropped.body ?? 0;
  b!.endpoint.notify(a!.addr, MessageType.GOSSIP, Buffer.from('{"inc":1,"updates":[{"nope":'));
  const bad = { ...target, state: 'dead', version: 0, extra: 1 };
  b!.endpoint.notify(a!.addr, MessageType.GOSSIP, Buffer.from(JSON.stringify({ inc: 1, updates: [bad] })));
  // Forged: a frame under another swarm's key saying x is dead.
  const stranger = new Endpoint({ clock: c.clock, rng: seededRng(1), transport: c.net.transport('10.9.9.9:7400') }, { id: newCellId(), keys: new KeyRing([randomBytes(32)]), wire: defaultConfig().wire });
  stranger.notice(a!.addr, Messages.GOSSIP, { inc: 1, updates: [{ ...target, incarnation: 99, state: 'dead', version: 0 }] });
  // Stale: x dead at a lower incarnation than known.
  await c.run(100);
  b!.endpoint.notice(a!.addr, Messages.GOSSIP, { inc: 1, updates: [{ ...target, incarnation: 0, state: 'dead', version: 0 }] });
  await c.run(1_000);
  t.is((a!.endpoint.counters.dropped.body ?? 0) - dropsBefore, 2, 'two malformed bodies dropped');
  t.is(a!.endpoint.counters.dropped.tag, 1, 'the forged frame is dropped: its tag does not authenticate');
  t.true(a!.m.counters.stale >= 1, 'the stale update is counted');
  t.is(c.stateOf(0, x!.addr), 'alive');
  t.false(c.events.some((e) => e.type === 'member-died'));
});
