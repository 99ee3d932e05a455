/**
 * A swarm of membership detectors on the in-memory network: each simulated
 * cell is a real rpc Endpoint (with its frame MAC) on a SimTransport and a
 * real Membership, all driven by one SimClock and one seeded Rng, so a run
 * replays exactly from its seed. Nothing else of a cell runs (no store, no
 * heal): what is measured is the detector alone. Used by bench:sim and by
 * its simulated test.
 */
import { SimClock, defaultConfig, seededRng, type Addr, type CellConfig, type CellId, type MembershipDetector, type Rng } from '../src/core/index.js';
import { createMembership, type Membership } from '../src/membership/index.js';
import { Endpoint } from '../src/rpc/index.js';
import { SimNetwork, type SimTransport } from '../src/transport/index.js';
import { KeyRing } from '../src/wire/index.js';

/** The detectors side by side: the original first, as the baseline. */
export const DETECTORS: readonly MembershipDetector[] = ['mesh', 'swim'];

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

/** Cells started together in one wave, as a share of the swarm: a swarm is not booted all at once through one seed. */
const JOIN_WAVE_SHARE = 0.1;
/** Live cells a joiner is given as seeds (any one that answers teaches it the swarm). */
const JOIN_SEEDS = 3;
/** Simulated time between checks of a whole-swarm condition (reading every view costs O(N²)). */
const CHECK_EVERY_MS = 250;

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
  private readonly byId = new Map<CellId, SimCell>();
  /** The member a measurement watches, and when each observer first held it dead or joined (by observer index). */
  private watched: { member: SimCell; event: 'member-died' | 'member-joined'; seenAtMs: Map<number, number> } | null = null;
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

  /** Adds a cell (not started). Ids come from the seed, so placement and probe orders replay. */
  add(): SimCell {
    const index = this.cells.length;
    const id = hexOf(this.rng, 8);
    const addr = addrOf(index);
    const transport = this.net.transport(addr);
    const { clock, rng } = this;
    const endpoint = new Endpoint({ clock, rng, transport }, { id, keys: this.keys, wire: this.config.wire });
    const self = { id, addr, incarnation: 1, role: 'storage' as const, pid: index + 1, chunks: 0, bytes: 0, capacityBytes: 2 ** 40 };
    const seeds = this.pickSeeds();
    const membership = createMembership(this.init.detector, { clock, rng, endpoint }, { self, seeds, config: this.config.membership });
    const cell: SimCell = { index, id, addr, transport, endpoint, membership, isRunning: true };
    membership.onEvent((e) => {
      if (!cell.isRunning) return;
      const target = this.byId.get(e.member.id);
      if (!target) return;
      const w = this.watched;
      if (w && w.member === target && w.event === e.type && !w.seenAtMs.has(index)) w.seenAtMs.set(index, this.clock.now());
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

  /** Starts `count` cells in waves and runs until every running cell holds every other alive (false after msMax). */
  async boot(msMax: number): Promise<boolean> {
    const count = this.init.cells;
    const wave = Math.max(1, Math.ceil(count * JOIN_WAVE_SHARE));
    while (this.cells.length < count) {
      const started: Promise<void>[] = [];
      for (let i = 0; i < wave && this.cells.length < count; i++) started.push(this.add().membership.start());
      await this.clock.runWhile(Promise.all(started), 60_000, settleTurn);
    }
    return this.runUntil(() => this.isConverged(), msMax, CHECK_EVERY_MS * Math.max(1, count / 1_000));
  }

  /** Runs ms of simulated time. */
  async run(ms: number): Promise<void> {
    await this.clock.run(ms, settleTurn);
  }

  /** Runs until done() holds, checked every checkEveryMs of simulated time; false after msMax. */
  async runUntil(done: () => boolean, msMax: number, checkEveryMs = CHECK_EVERY_MS): Promise<boolean> {
    const end = this.clock.now() + msMax;
    while (!done()) {
      if (this.clock.now() >= end) return false;
      await this.run(Math.min(checkEveryMs, end - this.clock.now()));
    }
    return true;
  }

  /** Every running cell holds every other running cell alive. O(N²): checked at most every CHECK_EVERY_MS per 1,000 cells. */
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
   * took from now (ms), or null after msMax. Time is read from the death
   * events, not from the check's granularity.
   */
  async timeUntilKnownDead(victim: SimCell, how: 'silent' | 'closed', msMax: number): Promise<number | null> {
    this.watched = { member: victim, event: 'member-died', seenAtMs: new Map() };
    const t0 = this.clock.now();
    await this.kill(victim, how);
    return this.timeUntilSeenByAll(t0, msMax);
  }

  /** Adds and starts a cell; returns the time until every running cell has it as a member (ms), or null after msMax. */
  async timeUntilJoinKnown(msMax: number): Promise<number | null> {
    const t0 = this.clock.now();
    const joiner = this.add();
    this.watched = { member: joiner, event: 'member-joined', seenAtMs: new Map() };
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
