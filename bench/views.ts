/**
 * bench:views — what clients' member views cost the cells, pushed
 * (docs/decisions/0035-pushed-member-views.md) against the poll of old, on
 * the simulated network with a simulated clock (seeded, deterministic).
 *
 * VIEWS_CELLS cells (default 1,000; bare endpoints with a ViewWatchers each
 * over one scripted member table, so the failure detector's own traffic is
 * not in the figures) and VIEWS_CLIENTS SwarmClients (default 100), 1,200-byte
 * datagrams. For VIEWS_SECONDS simulated seconds: 50 members' usage changes
 * every second, a cell dies every 5 s (its host cut off) and one joins every
 * 5 s. Prints the cells' datagrams and bytes per second spent on views (per
 * cell, and per client), how long after the event every client knew of each
 * death, and the poll's cost from one MEMBERS answer measured in the same run.
 */
import { randomBytes } from 'node:crypto';
import { ViewWatchers } from '../src/cell/index.js';
import { SwarmClient } from '../src/client/index.js';
import { SimClock, defaultConfig, newCellId, seededRng, type Addr, type CellId, type Unsubscribe } from '../src/core/index.js';
import type { Member, Membership, MembershipEvent } from '../src/membership/index.js';
import { Endpoint } from '../src/rpc/index.js';
import { SimNetwork } from '../src/transport/index.js';
import { KeyRing, Messages, type ListedMember } from '../src/wire/index.js';

const CELLS = Number(process.env.VIEWS_CELLS ?? 1_000);
const CLIENTS = Number(process.env.VIEWS_CLIENTS ?? 100);
const SECONDS = Number(process.env.VIEWS_SECONDS ?? 60);
const SEED = Number(process.env.CELLSYNC_SEED ?? 35);
const USAGE_CHANGES_PER_SECOND = 50;
const EVENT_EVERY_MS = 5_000;
const STEP_MS = 5;

/** One member table every simulated cell lists, and whose events every cell hears at once (what a detector would tell each). */
class ScriptedMembership implements Membership {
  private readonly table = new Map<CellId, Member>();
  private readonly listeners: ((e: MembershipEvent) => void)[] = [];
  private listed: ListedMember[] | null = null;

  add(m: Member): void {
    this.table.set(m.id, m);
    this.listed = null;
  }

  change(id: CellId, patch: Partial<Member>, event?: MembershipEvent['type']): void {
    const m = { ...this.table.get(id)!, ...patch };
    this.table.set(id, m);
    this.listed = null;
    if (event) for (const l of this.listeners) l({ type: event, member: m });
  }

  list(): ListedMember[] {
    this.listed ??= [...this.table.values()].map(({ lastHeardAtMs: _heard, stateSinceMs: _since, ...m }) => ({ ...m, lastHeardMs: 0 }));
    return this.listed;
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async leave(): Promise<void> {}
  members(): Member[] {
    return [...this.table.values()];
  }
  get(id: CellId): Member | undefined {
    return this.table.get(id);
  }
  updateSelf(): void {}
  onEvent(listener: (e: MembershipEvent) => void): Unsubscribe {
    this.listeners.push(listener);
    return () => this.listeners.splice(this.listeners.indexOf(listener), 1);
  }
  quarantine(): void {}
  isQuarantined(): boolean {
    return false;
  }
  forget(): boolean {
    return false;
  }
}

async function main(): Promise<void> {
  const clock = new SimClock();
  const rng = seededRng(SEED);
  const net = new SimNetwork({ clock, rng });
  const swarmKey = randomBytes(32);
  const keys = new KeyRing([swarmKey]);
  const config = defaultConfig();
  config.wire.datagramBytesMax = 1_200;
  config.wire.dedupEntriesMax = 512; // allocated whole: milliseconds per endpoint at the default size
  const membership = new ScriptedMembership();
  const cells: { addr: Addr; id: CellId; endpoint: Endpoint; watchers: ViewWatchers }[] = [];
  const addCell = (i: number) => {
    const addr = `10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}:7400`;
    const endpoint = new Endpoint({ clock, rng, transport: net.transport(addr) }, { id: newCellId(), keys, wire: config.wire });
    membership.add({ id: endpoint.id, addr, incarnation: 1, role: 'storage', pid: 1, chunks: 0, bytes: 0, capacityBytes: 1 << 30, state: 'alive', lastHeardAtMs: 0, stateSinceMs: 0 });
    const watchers = new ViewWatchers({ clock, rng, endpoint, membership }, { config: config.views, list: () => membership.list() });
    endpoint.serve(Messages.MEMBERS, () => membership.list());
    watchers.start();
    cells.push({ addr, id: endpoint.id, endpoint, watchers });
    return cells.at(-1)!;
  };
  for (let i = 0; i < CELLS; i++) addCell(i);
  const step = async (ms: number) => {
    for (let t = 0; t < ms; t += STEP_MS) {
      clock.advance(STEP_MS);
      await new Promise((r) => setImmediate(r));
    }
  };
  const settle = async <T>(p: Promise<T>): Promise<T> => {
    let done = false;
    void p.finally(() => (done = true));
    while (!done) await step(STEP_MS);
    return p;
  };

  // The poll of old, measured: one whole table as MEMBERS answers it.
  const probe = new Endpoint({ clock, rng, transport: net.transport('10.200.0.1:1') }, { id: newCellId(), keys, wire: config.wire });
  const answering = cells[0]!.endpoint.counters;
  const before = { frames: answering.framesSent, bytes: answering.bytesSent, probeFrames: probe.counters.framesSent };
  await settle(probe.call(cells[0]!.addr, Messages.MEMBERS, undefined));
  const table = { frames: answering.framesSent - before.frames, bytes: answering.bytesSent - before.bytes, asks: probe.counters.framesSent - before.probeFrames };
  await probe.stop();

  const clients = Array.from({ length: CLIENTS }, (_, i) => {
    const seeds = Array.from({ length: 3 }, () => cells[rng.int(cells.length)]!.addr);
    return new SwarmClient({ transport: net.transport(`10.201.${i >> 8}.${i & 255}:1`), clock, rng }, { swarmKey, seeds, wire: config.wire, views: config.views });
  });
  const startedAt = Date.now();
  await settle(Promise.all(clients.map((c) => c.members())));
  await step(2_000);

  const sentByCells = () => cells.reduce((a, c) => ({ frames: a.frames + c.endpoint.counters.framesSent, bytes: a.bytes + c.endpoint.counters.bytesSent }), { frames: 0, bytes: 0 });
  const fromCells0 = sentByCells();
  const clientsIn0 = clients.reduce((a, c) => a + c.endpoint.counters.bytesReceived, 0);
  const perCellMax0 = cells.map((c) => c.endpoint.counters.bytesSent);
  const lags: number[] = [];
  let next = 0;
  const t0 = clock.now();
  for (let second = 0; second < SECONDS; second++) {
    for (let k = 0; k < USAGE_CHANGES_PER_SECOND; k++) {
      const m = membership.members()[rng.int(cells.length)]!;
      membership.change(m.id, { chunks: m.chunks + 1 + rng.int(10), bytes: m.bytes + 4 * 1024 * 1024 });
    }
    if (second > 0 && (second * 1_000) % EVENT_EVERY_MS === 0) {
      // A death (its host cut off, so a client watching it must move) and a join.
      const live = cells.filter((c) => membership.get(c.id)!.state === 'alive');
      const victim = live[rng.int(live.length)]!;
      net.isolate(victim.addr);
      victim.watchers.stop();
      membership.change(victim.id, { state: 'dead' }, 'member-died');
      const joined = addCell(CELLS + next++);
      membership.change(joined.id, {}, 'member-joined');
      const at = clock.now();
      const knows = async () => (await Promise.all(clients.map((c) => c.members()))).every((v) => v.find((m) => m.id === victim.id)?.state === 'dead');
      while (!(await knows()) && clock.now() - at < 5_000) await step(STEP_MS);
      lags.push(clock.now() - at);
      await step(1_000 - (clock.now() - at) % 1_000);
    } else {
      await step(1_000);
    }
  }
  const seconds = (clock.now() - t0) / 1_000;
  const fromCells = sentByCells();
  const frames = fromCells.frames - fromCells0.frames;
  const bytes = fromCells.bytes - fromCells0.bytes;
  const perCellMax = Math.max(...cells.map((c, i) => c.endpoint.counters.bytesSent - (perCellMax0[i] ?? 0))) / seconds;
  const clientsIn = clients.reduce((a, c) => a + c.endpoint.counters.bytesReceived, 0) - clientsIn0;
  const stats = clients.map((c) => c.viewStats);
  const sum = (k: keyof (typeof stats)[number]) => stats.reduce((a, s) => a + s[k], 0);
  const watchersMax = Math.max(...cells.map((c) => c.watchers.watcherCount));
  lags.sort((a, b) => a - b);

  const f = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en') : n.toFixed(2));
  console.log(`member views: ${CELLS} cells (+${next} joined, ${lags.length} died), ${CLIENTS} clients, ${seconds} simulated s, datagrams of ${config.wire.datagramBytesMax} B, seed ${SEED} (${((Date.now() - startedAt) / 1000).toFixed(1)} s real)`);
  console.log(`pushed (this design), sent by the cells:`);
  console.log(`  per cell:   ${f(frames / seconds / cells.length)} datagrams/s, ${f(bytes / seconds / cells.length)} B/s (busiest cell ${f(perCellMax)} B/s, ${watchersMax} watchers at most)`);
  console.log(`  per client: ${f(frames / seconds / CLIENTS)} datagrams/s, ${f(bytes / seconds / CLIENTS)} B/s; received ${f(clientsIn / seconds / CLIENTS)} B/s`);
  console.log(`  tables fetched whole ${sum('tables')} (first watches ${CLIENTS}), news applied ${sum('news')}, gaps ${sum('gaps')}, resets ${sum('resets')}, leases forgotten ${sum('forgotten')}, switches ${sum('switches')}`);
  console.log(`  every client knew of a death: median ${lags[lags.length >> 1]} ms, max ${lags.at(-1)} ms after the cells (steps of ${STEP_MS} ms)`);
  const alive = CELLS;
  console.log(`poll (before), from one MEMBERS answer measured: ${table.frames} datagrams, ${f(table.bytes)} B (${table.asks} sent by the asker)`);
  console.log(`  as written (each client asks every live cell it knows, each second):`);
  console.log(`    per cell:   ${f(CLIENTS * table.frames)} datagrams/s, ${f(CLIENTS * table.bytes)} B/s`);
  console.log(`    per client: ${f(alive * table.frames)} datagrams/s, ${f(alive * table.bytes)} B/s`);
  console.log(`  one cell asked per client per second: per cell ${f((CLIENTS * table.frames) / alive)} datagrams/s, ${f((CLIENTS * table.bytes) / alive)} B/s; per client ${f(table.frames)} datagrams/s, ${f(table.bytes)} B/s`);
  await settle(Promise.all(clients.map((c) => c.close().catch(() => undefined))));
  for (const c of cells) {
    c.watchers.stop();
    await c.endpoint.stop();
  }
}

await main();
