/**
 * A swarm of membership detectors on the in-memory network: each simulated
 * cell is a real rpc Endpoint (with its frame MAC) on a SimTransport and a
 * real Membership, all driven by one SimClock and one seeded Rng, so a run
 * replays exactly from its seed. Nothing else of a cell runs (no store, no
 * heal): what is measured is the detector alone. Used by bench:sim and by
 * its simulated test.
 */
import { SimClock, defaultConfig, seededRng, type Addr, type CellConfig, type CellId, type MembershipDetector, type Rng } from '../src/core/index.js';
import { MemberIds, createMembership, type Membership } from '../src/membership/index.js';
import type { MemberInfo } from '../src/wire/index.js';
import { Endpoint } from '../src/rpc/index.js';
import { SimNetwork, type SimTransport } from '../src/transport/index.js';
import { KeyRing } from '../src/wire/index.js';

/** The detectors side by side: the original first, as the baseline. */
export const DETECTORS: readonly MembershipDetector[] = ['mesh', 'swim'];

/** The member a measurement watches, and when each observer (by index) first had the event, and first suspected it or held it dead. */
interface Watched {
  member: SimCell;
  event: 'member-died' | 'member-joined';
  seenAtMs: Map<number, number>;
  knownAtMs: Map<number, number>;
}

export interface SimCell {
  index: number;
  id: CellId;
  addr: Addr;
  transport: SimTransport;
  endpoint: Endpoint;
  membership: Membership;
  /** False once killed (isolated or closed): its own view no longer counts. */
  isRunning: boolean;
}

export interface MembershipSimInit {
  detector: MembershipDetector;
  cells: number;
  seed: number;
  /** Changes to the cells' configuration, after the simulation's own (see simCellConfig). */
  config?: (c: CellConfig) => void;
}

/** Live cells a joiner is given as seeds (any one that answers teaches it the swarm). */
const JOIN_SEEDS = 3;
/** Cells whose whole views are checked after boot (reading every view of 10,000 cells would cost 10⁸ member objects). */
const BOOT_CHECKED_CELLS = 20;

/**
 * Production defaults, except the per-endpoint answer cache: allocated whole
 * (8,192 entries, ~0.3 MB), it alone would take 3 GB at 10,000 endpoints in
 * one process, and membership sends few requests.
 */
export function simCellConfig(change?: (c: CellConfig) => void): CellConfig {
  const c = defaultConfig();
  c.wire.dedupEntriesMax = 512;
  change?.(c);
  return c;
}

/** Distinct false-alarm episodes remembered; past it they are no longer told apart (counted as events only). */
const EPISODES_MAX = 1_000_000;

const noCount = () => ({ events: 0, episodes: 0 });
const noAlarms = () => ({ ofHealthy: { suspected: noCount(), died: noCount() }, ofSlowCell: { suspected: noCount(), died: noCount() } });

/** Lets promise continuations run (a call's answer, a join's result) before the next timer fires. */
const settleTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const hexOf = (rng: Rng, bytes: number) => Array.from({ length: bytes }, () => rng.int(256).toString(16).padStart(2, '0')).join('');

/** The i-th simulated address: 10.x.y.z, 250 hosts per /24, port 7400 (never sent on a real network). */
const addrOf = (i: number): Addr => `10.${1 + Math.floor(i / 62_500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}:7400`;

export class MembershipSim {
  readonly clock = new SimClock();
  readonly rng: Rng;
  readonly net: SimNetwork;
  readonly config: CellConfig;
  readonly cells: SimCell[] = [];
  private readonly keys: KeyRing;
  /** Member ids shared by every cell's table: 10,000 tables of 10,000 members in one process. */
  private readonly memberIds = new MemberIds();
  private readonly byId = new Map<CellId, SimCell>();
  private watched: Watched | null = null;
  /**
   * Suspicions and deaths of members that were running (false alarms) since
   * resetAlarms(): as observer events (one suspicion gossiped to N cells is
   * N of them), and as episodes (one per member and incarnation: what a
   * refutation ends).
   */
  alarms = noAlarms();
  private readonly episodes = new Set<string>();
  /** A cell whose datagrams are late (false alarms about it are counted apart), or null. */
  slowCell: SimCell | null = null;

  constructor(private readonly init: MembershipSimInit) {
    this.rng = seededRng(init.seed);
    this.net = new SimNetwork({ clock: this.clock, rng: this.rng });
    this.config = simCellConfig(init.config);
    this.config.membership.detector = init.detector;
    this.keys = new KeyRing([Buffer.from(hexOf(this.rng, 32), 'hex')]);
  }

  get detector(): MembershipDetector {
    return this.init.detector;
  }

  /** The detector's protocol period (ms): the mesh's heartbeat interval, SWIM's probe interval. */
  get periodMs(): number {
    const m = this.config.membership;
    return this.init.detector === 'swim' ? m.probeIntervalMs : m.heartbeatIntervalMs;
  }

  running(): SimCell[] {
    return this.cells.filter((c) => c.isRunning);
  }

  /**
   * Adds a cell (not started). Ids come from the seed, so placement and probe orders replay. It
   * joins through seeds drawn from the running cells, or, given `known`, holds those members
   * alive from the start.
   */
  add(self: MemberInfo = this.newSelf(), known?: MemberInfo[]): SimCell {
    const { index, id, addr } = { index: this.cells.length, id: self.id, addr: self.addr };
    const transport = this.net.transport(addr);
    const { clock, rng, memberIds } = this;
    const endpoint = new Endpoint({ clock, rng, transport }, { id, keys: this.keys, wire: this.config.wire });
    const seeds = known ? [] : this.pickSeeds();
    const membership = createMembership(this.init.detector, { clock, rng, endpoint, memberIds }, { self, seeds, known, config: this.config.membership });
    const cell: SimCell = { index, id, addr, transport, endpoint, membership, isRunning: true };
    membership.onEvent((e) => {
      if (!cell.isRunning) return;
      const target = this.byId.get(e.member.id);
      if (!target) return;
      const w = this.watched;
      if (w && w.member === target) {
        if (w.event === e.type && !w.seenAtMs.has(index)) w.seenAtMs.set(index, this.clock.now());
        if (w.event === 'member-died' && (e.type === 'member-suspected' || e.type === 'member-died') && !w.knownAtMs.has(index)) w.knownAtMs.set(index, this.clock.now());
      }
      if (!target.isRunning) return;
      if (e.type !== 'member-suspected' && e.type !== 'member-died') return;
      const of = target === this.slowCell ? this.alarms.ofSlowCell : this.alarms.ofHealthy;
      const kind = e.type === 'member-suspected' ? 'suspected' : 'died';
      of[kind].events++;
      const episode = `${kind}|${target.index}|${e.member.incarnation}`;
      if (this.episodes.size < EPISODES_MAX && !this.episodes.has(episode)) {
        this.episodes.add(episode);
        of[kind].episodes++;
      }
    });
    this.cells.push(cell);
    this.byId.set(id, cell);
    return cell;
  }

  /** What the next cell added says of itself. */
  private newSelf(): MemberInfo {
    const index = this.cells.length;
    return { id: hexOf(this.rng, 8), addr: addrOf(index), incarnation: 1, role: 'storage', pid: index + 1, chunks: 0, bytes: 0, capacityBytes: 2 ** 40 };
  }

  /**
   * Starts the swarm in steady state: every cell knows every other alive
   * from the start (what a swarm converges to after its joins; booting
   * 10,000 through JOINs costs O(N²) member lists, and the join of one cell
   * is measured on its own). Runs a protocol period; true if every view
   * checked (BOOT_CHECKED_CELLS of them) holds every other cell alive.
   */
  async boot(): Promise<boolean> {
    const selves = Array.from({ length: this.init.cells }, (_, k) => ({ ...this.newSelf(), addr: addrOf(this.cells.length + k), pid: this.cells.length + k + 1 }));
    for (const self of selves) this.add(self, selves);
    await this.clock.runWhile(Promise.all(this.cells.map((c) => c.membership.start())), 60_000, settleTurn);
    await this.run(this.periodMs);
    const checked = Array.from({ length: Math.min(BOOT_CHECKED_CELLS, this.cells.length) }, () => this.cells[this.rng.int(this.cells.length)]!);
    return checked.every((c) => this.cells.every((other) => other === c || c.membership.get(other.id)?.state === 'alive'));
  }

  /** Runs ms of simulated time. */
  async run(ms: number): Promise<void> {
    await this.clock.run(ms, settleTurn);
  }

  /** Every running cell holds every other running cell alive. O(N²) member objects: for small swarms. */
  isConverged(): boolean {
    const live = this.running();
    return live.every((c) => live.every((other) => other === c || c.membership.get(other.id)?.state === 'alive'));
  }

  /** Datagrams and bytes every running cell sent, summed. */
  sent(): { datagrams: number; bytes: number } {
    let datagrams = 0;
    let bytes = 0;
    for (const c of this.running()) {
      datagrams += c.endpoint.counters.framesSent;
      bytes += c.endpoint.counters.bytesSent;
    }
    return { datagrams, bytes };
  }

  /**
   * Kills a running cell: 'silent' isolates its host (nothing in or out, no
   * evidence); 'closed' stops its process (its transport closed: the
   * evidence a real host gives as ICMP port-unreachable).
   */
  async kill(cell: SimCell, how: 'silent' | 'closed'): Promise<void> {
    cell.isRunning = false;
    if (how === 'silent') {
      this.net.isolate(cell.addr);
      return;
    }
    await cell.membership.stop();
    await cell.endpoint.stop();
  }

  /**
   * Runs until every running cell holds `victim` dead; returns how long that
   * took from now (ms), or null after msMax, and how long until every cell
   * suspected it or held it dead (the failure detected everywhere; a
   * suspicion is what routes reads and writes around a cell). Times are
   * read from the events, not from the check's granularity.
   */
  async timeUntilKnownDead(victim: SimCell, how: 'silent' | 'closed', msMax: number): Promise<{ dead: number | null; detected: number | null }> {
    const w: Watched = { member: victim, event: 'member-died', seenAtMs: new Map(), knownAtMs: new Map() };
    this.watched = w;
    const t0 = this.clock.now();
    await this.kill(victim, how);
    const dead = await this.timeUntilSeenByAll(t0, msMax);
    const detected = dead === null ? null : Math.max(...w.knownAtMs.values()) - t0;
    return { dead, detected };
  }

  /** Adds and starts a cell; returns the time until every running cell has it as a member (ms), or null after msMax. */
  async timeUntilJoinKnown(msMax: number): Promise<number | null> {
    const t0 = this.clock.now();
    const joiner = this.add();
    this.watched = { member: joiner, event: 'member-joined', seenAtMs: new Map(), knownAtMs: new Map() };
    void joiner.membership.start();
    return this.timeUntilSeenByAll(t0, msMax);
  }

  /** Runs until every running cell (the watched one aside) has had the watched event; from t0 to the last of them. */
  private async timeUntilSeenByAll(t0: number, msMax: number): Promise<number | null> {
    const w = this.watched!;
    // Every cell the watched event must reach: a count, so that the check after each timer is O(1).
    const observers = this.running().filter((c) => c !== w.member).length;
    const isDone = await this.clock.runUntil(() => w.seenAtMs.size >= observers, msMax, settleTurn);
    this.watched = null;
    return isDone ? Math.max(...w.seenAtMs.values()) - t0 : null;
  }

  resetAlarms(): void {
    this.alarms = noAlarms();
    this.episodes.clear();
  }

  /** Stops every running cell's membership and endpoint (timers cleared). */
  async stop(): Promise<void> {
    for (const c of this.running()) {
      c.isRunning = false;
      await c.membership.stop();
      await c.endpoint.stop();
    }
  }

  /** Up to JOIN_SEEDS running cells, drawn from the seed. */
  private pickSeeds(): Addr[] {
    const live = this.running();
    if (live.length <= JOIN_SEEDS) return live.map((c) => c.addr);
    const seeds = new Set<Addr>();
    while (seeds.size < JOIN_SEEDS) seeds.add(live[this.rng.int(live.length)]!.addr);
    return [...seeds];
  }
}
