import test from 'ava';
import { randomBytes } from 'node:crypto';
import { ViewWatchers } from '../../src/cell/index.js';
import { SwarmClient, type MemberView } from '../../src/client/index.js';
import { SimClock, defaultConfig, newCellId, seededRng, type CellConfig } from '../../src/core/index.js';
import { HeartbeatMembership, type Membership, type MembershipEvent } from '../../src/membership/index.js';
import { Endpoint } from '../../src/rpc/index.js';
import { SimNetwork } from '../../src/transport/index.js';
import { KeyRing, Messages, type ListedMember } from '../../src/wire/index.js';

/*
 * Pushed member views on the simulated network: cells are bare endpoints
 * with the heartbeat membership, a ViewWatchers and MEMBERS each (what
 * Cell composes), clients are real SwarmClients. Datagrams are 1,200 bytes, as
 * on a real path, so news is split as it would be there.
 */

const SEED = Number(process.env.CELLSYNC_SEED ?? 35);

function listOf(m: Membership, now: number): ListedMember[] {
  return m.members().map(({ lastHeardAtMs, stateSinceMs: _since, ...x }) => ({ ...x, lastHeardMs: Math.max(0, Math.round(now - lastHeardAtMs)) }));
}

function swarm(n: number, change?: (c: CellConfig) => void) {
  const clock = new SimClock();
  const rng = seededRng(SEED);
  const net = new SimNetwork({ clock, rng });
  const swarmKey = randomBytes(32);
  const keys = new KeyRing([swarmKey]);
  const config = defaultConfig();
  config.wire.datagramBytesMax = 1_200;
  change?.(config);
  const events: (MembershipEvent & { at: number; observer: string })[] = [];
  const startCell = (addr: string, seeds: string[]) => {
    const endpoint = new Endpoint({ clock, rng, transport: net.transport(addr) }, { id: newCellId(), keys, wire: config.wire });
    const m = new HeartbeatMembership(
      { clock, rng, endpoint },
      { self: { id: endpoint.id, addr, incarnation: 1, role: 'storage', pid: 1, chunks: 0, bytes: 0, capacityBytes: 1 }, seeds, config: config.membership },
    );
    m.onEvent((e) => events.push({ ...e, at: clock.now(), observer: addr }));
    const list = () => listOf(m, clock.now());
    const watchers = new ViewWatchers({ clock, rng, endpoint, membership: m }, { config: config.views, list });
    endpoint.serve(Messages.MEMBERS, list);
    return { addr, endpoint, m, watchers };
  };
  const cells = Array.from({ length: n }, (_, i) => startCell(`10.0.0.${i + 1}:7400`, i === 0 ? [] : ['10.0.0.1:7400']));
  /** Advances simulated time in 5 ms steps, letting promise continuations run in between. */
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 5) {
      clock.advance(5);
      await new Promise((r) => setImmediate(r));
    }
  };
  /** Runs until `done` holds (or `ms` pass); returns the simulated ms it took. */
  const until = async (done: () => boolean | Promise<boolean>, ms: number) => {
    const from = clock.now();
    while (!(await done()) && clock.now() - from < ms) await run(5);
    return clock.now() - from;
  };
  const start = async (cell: ReturnType<typeof startCell>) => {
    const started = cell.m.start();
    await run(50);
    await started;
    cell.watchers.start();
  };
  const kill = async (cell: ReturnType<typeof startCell>) => {
    cell.watchers.stop();
    await cell.m.stop();
    await cell.endpoint.stop();
  };
  const clients: SwarmClient[] = [];
  const client = (i: number, seeds: string[]) => {
    const c = new SwarmClient({ transport: net.transport(`10.0.1.${i}:1`), clock, rng }, { swarmKey, seeds, wire: config.wire, views: config.views });
    clients.push(c);
    return c;
  };
  /** Settles a promise while simulated time runs. */
  const settle = async <T>(p: Promise<T>): Promise<T> => {
    let done = false;
    void p.then(
      () => (done = true),
      () => (done = true),
    );
    await until(() => done, 30_000);
    return p;
  };
  const stopAll = async () => {
    for (const c of clients) await c.endpoint.stop();
    for (const cell of cells) {
      cell.watchers.stop();
      await cell.m.stop();
      await cell.endpoint.stop();
    }
  };
  return { clock, net, config, cells, events, run, until, start, kill, client, settle, startCell, stopAll };
}

const stateIn = (view: MemberView[], addr: string) => view.find((m) => m.addr === addr)?.state;

test('a client follows a death and a join within 100 ms of its watched cell hearing of them, without asking', async (t) => {
  const s = swarm(5);
  t.teardown(s.stopAll);
  for (const cell of s.cells) await s.start(cell);
  await s.run(5_000);
  const client = s.client(1, [s.cells[0]!.addr]);
  t.is((await s.settle(client.members())).length, 5);
  const watched = client.watchedCell;
  t.truthy(watched, 'watching a cell');
  const sentBefore = client.endpoint.counters.framesSent;
  const victim = s.cells.find((c) => c.addr !== watched && c.addr !== s.cells[0]!.addr)!;
  await s.kill(victim);
  const diedAt = () => s.events.find((e) => e.observer === watched && e.type === 'member-died' && e.member.addr === victim.addr)?.at;
  await s.until(() => diedAt() !== undefined, 20_000);
  t.truthy(diedAt(), 'the watched cell saw the death');
  const lag = await s.until(async () => stateIn(await client.members(), victim.addr) === 'dead', 1_000);
  t.true(lag <= 100, `the client knew ${lag} ms after its cell`);

  const joiner = s.startCell('10.0.0.9:7400', [s.cells[0]!.addr]);
  void s.start(joiner);
  const joinedAt = () => s.events.find((e) => e.observer === watched && e.type === 'member-joined' && e.member.addr === joiner.addr)?.at;
  await s.until(() => joinedAt() !== undefined, 10_000);
  const joinLag = await s.until(async () => stateIn(await client.members(), joiner.addr) === 'alive', 1_000);
  t.true(joinLag <= 100, `the client knew of the join ${joinLag} ms after its cell`);
  const sent = client.endpoint.counters.framesSent - sentBefore;
  const seconds = (s.clock.now() - 5_000) / 1_000;
  t.true(sent <= seconds / (s.config.views.renewEveryMs / 1_000) + 4, `the client sent ${sent} frames in ${seconds.toFixed(1)} s: renewals only`);
});

test('a lost notice is repaired: the client fetches the table again and sees what it missed', async (t) => {
  const s = swarm(4);
  t.teardown(s.stopAll);
  for (const cell of s.cells) await s.start(cell);
  await s.run(5_000);
  const client = s.client(1, s.cells.map((c) => c.addr));
  await s.settle(client.members());
  const watched = client.watchedCell!;
  const watchedCell = s.cells.find((c) => c.addr === watched)!;
  const victim = s.cells.find((c) => c.addr !== watched)!;
  // The news of the death is lost: the link from the watched cell to the client is cut as the cell hears of it, for 50 ms.
  watchedCell.m.onEvent((e) => {
    if (e.type !== 'member-died') return;
    s.net.partition(watched, '10.0.1.1:1');
    s.clock.setTimeout(() => s.net.heal(), 50);
  });
  await s.kill(victim);
  await s.until(async () => stateIn(await client.members(), victim.addr) === 'dead', 20_000);
  t.is(stateIn(await client.members(), victim.addr), 'dead', 'repaired');
  t.true(client.viewStats.gaps >= 1, 'by a gap seen');
  t.is(client.watchedCell, watched, 'from the same cell');
});

test('when the watched cell dies the client watches another live cell at once and keeps following', async (t) => {
  const s = swarm(5);
  t.teardown(s.stopAll);
  for (const cell of s.cells) await s.start(cell);
  await s.run(5_000);
  const client = s.client(1, s.cells.map((c) => c.addr));
  await s.settle(client.members());
  const first = client.watchedCell!;
  s.net.isolate(first); // a crashed host: nothing in or out
  const { renewEveryMs, requestTimeoutMs } = s.config.views;
  const took = await s.until(() => client.watchedCell !== null && client.watchedCell !== first, 10_000);
  t.not(client.watchedCell, first);
  t.true(took <= renewEveryMs + requestTimeoutMs + 200, `moved after ${took} ms`);
  // The new cell's news still arrives: the old one's death reaches the view.
  await s.until(async () => stateIn(await client.members(), first) === 'dead', 20_000);
  t.is(stateIn(await client.members(), first), 'dead');
});

test('watchers per cell are bounded: a refused client watches another cell, and with none left it still gets the table', async (t) => {
  const s = swarm(2, (c) => (c.views.watchersMax = 2));
  t.teardown(s.stopAll);
  for (const cell of s.cells) await s.start(cell);
  await s.run(3_000);
  const clients = [1, 2, 3, 4].map((i) => s.client(i, s.cells.map((c) => c.addr)));
  for (const c of clients) await s.settle(c.members());
  t.deepEqual(
    s.cells.map((c) => c.watchers.watcherCount),
    [2, 2],
  );
  t.true(clients.every((c) => c.watchedCell !== null), 'every client watches a cell');
  const fifth = s.client(5, s.cells.map((c) => c.addr));
  t.is((await s.settle(fifth.members())).length, 2, 'the table, asked for');
  t.is(fifth.watchedCell, null);
  t.true(s.cells.every((c) => c.watchers.refused >= 1));
});

test("a stopped client's lease lapses and the cell forgets it; a closed one leaves at once", async (t) => {
  const s = swarm(2);
  t.teardown(s.stopAll);
  for (const cell of s.cells) await s.start(cell);
  await s.run(3_000);
  const gone = s.client(1, [s.cells[0]!.addr]);
  const closing = s.client(2, [s.cells[0]!.addr]);
  await s.settle(gone.members());
  await s.settle(closing.members());
  const cell = s.cells.find((c) => c.addr === gone.watchedCell)!;
  t.is(cell.watchers.watcherCount + s.cells.find((c) => c.addr !== cell.addr)!.watchers.watcherCount, 2);
  await s.settle(closing.close());
  s.net.isolate('10.0.1.1:1'); // stopped without a word (SIGKILL, a machine gone)
  const { leaseMs, usageEveryMs } = s.config.views;
  const took = await s.until(() => s.cells.every((c) => c.watchers.watcherCount === 0), leaseMs + usageEveryMs + 1_000);
  t.true(
    s.cells.every((c) => c.watchers.watcherCount === 0),
    'forgotten',
  );
  t.true(took <= leaseMs + usageEveryMs, `after ${took} ms`);
});

test('usage changes reach the client, many at once split into datagrams that fit', async (t) => {
  const s = swarm(8, (c) => (c.views.usageEveryMs = 1_000));
  t.teardown(s.stopAll);
  for (const cell of s.cells) await s.start(cell);
  await s.run(5_000);
  const client = s.client(1, [s.cells[0]!.addr]);
  await s.settle(client.members());
  const newsBefore = client.viewStats.news;
  for (const [i, cell] of s.cells.entries()) cell.m.updateSelf({ chunks: 100 + i, bytes: 1_000 + i });
  // Heard by the watched cell with the next heartbeats, compared at its next usage round.
  await s.run(s.config.membership.heartbeatIntervalMs + s.config.views.usageEveryMs + 500);
  t.deepEqual(
    (await client.members()).map((m) => m.chunks).sort(),
    [100, 101, 102, 103, 104, 105, 106, 107],
  );
  t.true(client.viewStats.news - newsBefore >= 2, `${client.viewStats.news - newsBefore} news datagrams of at most 1,200 bytes`);
  t.is(client.viewStats.gaps, 0);
});
