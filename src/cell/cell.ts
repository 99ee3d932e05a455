import { readFile, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  makeDirs,
  EventLog,
  TokenBucket,
  logger,
  machineId,
  type Addr,
  type CellConfig,
  type Clock,
  type Rng,
  type TimerHandle,
} from '../core/index.js';
import { Differentiator } from '../differentiation/index.js';
import { Healer } from '../heal/index.js';
import { Immune } from '../immune/index.js';
import { ROLES, createMembership, type Membership, type Role } from '../membership/index.js';
import { Endpoint } from '../rpc/index.js';
import { RECORDS_PER_MESSAGE_MAX } from '../namespace/index.js';
import { CellIdentity, ChunkStore, RecordStore, cellLayoutOf, setAsideIfDamaged, writeFileAtomic, type DatabaseRepair } from '../store/index.js';
import { FaultyTransport, UdpTransport, type Transport } from '../transport/index.js';
import { MetricsServer, type MetricsAddr, type Registry } from '../metrics/index.js';
import { KeyRing, MessageType, Messages, STATUS_EVENTS_MAX, type CellStatus, type ListedMember, type LocalGrant } from '../wire/index.js';
import { lockDataDir } from './lock.js';
import { cellRegistry } from './metrics.js';
import { RecordUndoLog } from './record-undo-log.js';
import { recallMembers, rememberMembers } from './remembered-members.js';
import { Subscriptions } from './subscriptions.js';
import { ViewWatchers } from './view-watchers.js';

export interface CellInit {
  dataDir: string;
  /** Where UDP is bound when no transport is given. */
  host: string;
  /** 0 = any free port. */
  port: number;
  seeds: Addr[];
  swarmKey: Buffer;
  config: CellConfig;
  role: Role;
  /** A pinned role (given with --role) never changes; otherwise the cell differentiates. */
  rolePinned: boolean;
  /** Repair copies to cells on this machine go as files (heal/local-push.ts); default true, false sends every copy over the network. */
  localPushes?: boolean;
  /** Told what the start is doing, now and then, until it serves (a large store takes a while to open): `cell start --daemon` shows it. */
  onProgress?: (what: string) => void;
  /** Where to serve Prometheus metrics over HTTP (`--metrics`); none when absent. */
  metrics?: MetricsAddr;
}

export interface CellComponents {
  /** Datagrams in and out; when absent, Cell.start binds UDP on init.host:init.port. The cell owns it and closes it on stop. */
  transport?: Transport;
  clock: Clock;
  rng: Rng;
}

/** What Cell.start builds before the cell exists: its parts, owned by the cell from then on. */
interface CellParts {
  clock: Clock;
  rng: Rng;
  endpoint: Endpoint;
  /** The fault injector around the transport (FAULTS messages and `cellsync chaos` set its rates). */
  transport: FaultyTransport;
  store: ChunkStore;
  records: RecordStore;
  membership: Membership;
  /** Releases the data directory's lock. */
  unlock: () => Promise<void>;
}

/** Who this cell is and how it runs, once its identity is loaded. */
interface CellSetup {
  id: string;
  incarnation: number;
  dataDir: string;
  config: CellConfig;
  rolePinned: boolean;
  localPushes: boolean;
}

/** Written when this cell learns it was quarantined; its next start scrubs the store first. */
export const QUARANTINE_MARKER = 'quarantined';

const ROLE_FILE = 'role.json';

/** The role a cell had when it stopped (and whether it was pinned), or null for a new cell. */
export async function loadRole(dataDir: string): Promise<{ role: Role; pinned: boolean } | null> {
  try {
    const r = JSON.parse(await readFile(path.join(dataDir, ROLE_FILE), 'utf8')) as { role?: unknown; pinned?: unknown };
    return (ROLES as readonly unknown[]).includes(r.role) ? { role: r.role as Role, pinned: r.pinned === true } : null;
  } catch {
    return null;
  }
}

async function saveRole(dataDir: string, role: Role, pinned: boolean): Promise<void> {
  await writeFileAtomic(path.join(dataDir, ROLE_FILE), JSON.stringify({ role, pinned }) + '\n').catch(() => undefined);
}

/** How often the cell refreshes what it advertises about itself (chunks, bytes). */
const SELF_REFRESH_MS = 1_000;
/** A file in the incoming directory not adopted after this long is removed (ms). */
const INCOMING_MAX_AGE_MS = 60_000;

/**
 * A cell: the daemon's composition root. Builds the store, the endpoint and
 * membership, serves chunk RPCs, and stops everything in order.
 */
export class Cell {
  readonly events = new EventLog(1_024);
  readonly id: string;
  readonly incarnation: number;
  readonly store: ChunkStore;
  readonly records: RecordStore;
  /** What quorum writes replaced, for their writers' undo (REC_UNDO). */
  private readonly undoLog = new RecordUndoLog();
  readonly membership: Membership;
  readonly healer: Healer;
  readonly immune: Immune;
  readonly differentiator: Differentiator;
  /** Clients watching this cell's member table (pushed member views). */
  readonly viewWatchers: ViewWatchers;
  /** Damage found in the store as the cell started and repaired (a database set aside, stray files), one line each. */
  readonly repairs: string[] = [];
  private readonly clock: Clock;
  private readonly endpoint: Endpoint;
  private readonly transport: FaultyTransport;
  /** Set when the swarm quarantined this cell: its own view says so too, so clients that ask it do not place data on it. */
  private quarantinedSelf = false;
  private timers: TimerHandle[] = [];
  /** What serve() registered on the endpoint, the store and membership: stop() removes exactly these. */
  private readonly subscriptions = new Subscriptions();
  private started = false;
  private stopping: Promise<void> | null = null;
  private readonly startedAtMs: number;
  private readonly dataDir: string;
  /** The self-scrub of a quarantined cell's store, running in the background (see startSelfScrub), and how to stop it. */
  private selfScrub: { done: Promise<void>; abort: AbortController } | null = null;
  private selfScrubDone = false;
  /** The cell's Prometheus metrics, read from its parts' own counters at each scrape (cell/metrics.ts). */
  readonly metrics: Registry;
  /** Serves `metrics` while the cell runs (`--metrics`); closed first by stop(). */
  private metricsServer: MetricsServer | null = null;
  /** Members this cell saw quarantined (itself included), for its metrics. */
  private quarantinesSeen = 0;

  private constructor(private readonly parts: CellParts, setup: CellSetup) {
    const { clock, rng, endpoint, store, records, membership } = parts;
    const { id, dataDir, config } = setup;
    this.id = id;
    this.dataDir = dataDir;
    this.incarnation = setup.incarnation;
    this.clock = clock;
    this.endpoint = endpoint;
    this.transport = parts.transport;
    this.store = store;
    this.records = records;
    this.membership = membership;
    this.startedAtMs = clock.wallNow();
    const record = (type: string, cellId: string, detail: string) => this.events.record({ atMs: clock.wallNow(), type, cellId, detail });
    this.healer = new Healer(
      { clock, endpoint, store, records, membership },
      {
        heal: config.heal,
        placement: config.placement,
        onEvent: (type, detail) => record(type, id, detail),
        localPushes: setup.localPushes,
        logPrefix: id.slice(0, 8),
      },
    );
    this.immune = new Immune(
      { clock, rng, endpoint, store, membership },
      {
        config: config.immune,
        onEvent: record,
        // A confirmed corruption leaves a chunk short of a copy: heal now rather than at the next periodic pass.
        onConfirmed: () => this.healer.schedule(config.heal.settleMs),
        onSelfQuarantined: () => {
          this.quarantinedSelf = true;
          this.quarantinesSeen++;
          this.viewWatchers.touch(id);
          record('cell-quarantined', id, 'this cell was quarantined: it will scrub its store on its next start');
          void writeFile(path.join(dataDir, QUARANTINE_MARKER), `${clock.wallNow()}\n`).catch(() => undefined);
        },
        logPrefix: id.slice(0, 8),
      },
    );
    this.differentiator = new Differentiator(
      { clock, rng, membership },
      {
        config: config.differentiation,
        replicas: config.placement.replicas,
        pinned: setup.rolePinned,
        leftGraceMs: config.heal.leftGraceMs,
        onEvent: (type, detail) => {
          record(type, id, detail);
          // A restarted cell comes back in the role it had; its watchers hear of the new role at once.
          if (type === 'role-changed') {
            void saveRole(dataDir, membership.members()[0]!.role, false);
            this.viewWatchers.touch(id);
          }
        },
        logPrefix: id.slice(0, 8),
      },
    );
    this.viewWatchers = new ViewWatchers({ clock, rng, endpoint, membership }, { config: config.views, list: () => this.members(), logPrefix: id.slice(0, 8) });
    this.metrics = cellRegistry({
      store: () => ({ ...store.stats(), records: records.count }),
      heal: () => this.healer.stats,
      immune: () => this.immune.stats,
      wire: () => endpoint.counters,
      memberStates: () => this.members().map((m) => m.state),
      quarantinesSeen: () => this.quarantinesSeen,
    });
  }

  get address(): Addr {
    return this.endpoint.address;
  }

  /**
   * Opens the data directory (lock, identity, store, records), binds UDP
   * unless components.transport is given, and starts the cell: serving,
   * membership (joining through the seeds), healing, the immune system and
   * differentiation.
   */
  static async start(components: CellComponents, init: CellInit): Promise<Cell> {
    const { clock, rng } = components;
    const progress = init.onProgress ?? (() => undefined);
    await makeDirs(init.dataDir);
    progress('locking the data directory');
    const unlock = await lockDataDir(init.dataDir);
    let transport: Transport | null = components.transport ?? null;
    try {
      const identity = await CellIdentity.loadAndBump(init.dataDir);
      const prefix = identity.id.slice(0, 8);
      // Damage found and repaired (store/db-check.ts): one line each, kept until the cell records them as events.
      let tell: (line: string) => void = (line) => repairs.push(line);
      const repairs: string[] = [];
      progress('opening the store');
      const store = await ChunkStore.open({
        onRepair: (line) => tell(line),
        onProgress: progress,
        dir: init.dataDir,
        capacityBytes: init.config.store.capacityBytes,
        defaultReplicas: init.config.placement.replicas,
        logPrefix: prefix,
        clock,
      });
      transport ??= await UdpTransport.bind({ host: init.host, port: init.port, socketBufferBytes: init.config.wire.socketBufferBytes });
      const faulty = new FaultyTransport(transport, { clock, rng }, init.config.faults);
      const endpoint = new Endpoint(
        { clock, rng, transport: faulty },
        { id: identity.id, keys: new KeyRing([init.swarmKey]), wire: init.config.wire, logPrefix: prefix },
      );
      const stats = store.stats();
      const membership = createMembership(
        init.config.membership.detector,
        { clock, rng, endpoint },
        {
          self: {
            id: identity.id,
            addr: endpoint.address,
            incarnation: identity.incarnation,
            role: init.role,
            pid: process.pid,
            chunks: stats.chunks,
            bytes: stats.bytes,
            capacityBytes: stats.capacityBytes,
          },
          seeds: init.seeds,
          config: init.config.membership,
          left: await recallMembers(init.dataDir),
          logPrefix: prefix,
        },
      );
      // lmdb-js segfaults on some damaged files: a damaged database is set aside before it is opened, and one
      // found damaged in use is replaced; anti-entropy brings the records back from the other cells holding them.
      const { recordsPath, corruptDir } = cellLayoutOf(init.dataDir);
      progress(`${stats.chunks} chunks; checking the records database`);
      const recordsRepair = await setAsideIfDamaged(recordsPath, corruptDir, clock.wallNow(), (n) => progress(`checking the records database: ${n} entries read`));
      const onRecordsRepaired = (r: DatabaseRepair) => tell(`${r.file} (namespace records) ${r.why}: moved to ${r.movedTo}; starting with no records, anti-entropy brings them back from the other cells`);
      if (recordsRepair) onRecordsRepaired(recordsRepair);
      const records = RecordStore.inDataDir(init.dataDir, { asideDir: corruptDir, onReplaced: onRecordsRepaired });
      if (init.rolePinned) await saveRole(init.dataDir, init.role, true);
      // Rehabilitation: the store is scrubbed, in the background once the cell serves (startSelfScrub).
      const wasQuarantined = await stat(path.join(init.dataDir, QUARANTINE_MARKER)).then(() => true, () => false);
      const cell = new Cell(
        { clock, rng, endpoint, transport: faulty, store, records, membership, unlock },
        { id: identity.id, incarnation: identity.incarnation, dataDir: init.dataDir, config: init.config, rolePinned: init.rolePinned, localPushes: init.localPushes ?? true },
      );
      // What was found damaged and repaired: one line each, in the events (so the log) and for whoever started the cell.
      tell = (line) => cell.events.record({ atMs: clock.wallNow(), type: 'store-repaired', cellId: identity.id, detail: line });
      cell.repairs.push(...repairs);
      repairs.forEach(tell);
      if (wasQuarantined) {
        cell.events.record({ atMs: clock.wallNow(), type: 'cell-rehabilitated', cellId: identity.id, detail: `incarnation ${identity.incarnation}; its ${stats.chunks} chunks are scrubbed in the background` });
      }
      progress('joining the swarm');
      try {
        await cell.start(init.config.heal.settleMs);
        if (wasQuarantined) cell.startSelfScrub(init.config.store.selfScrubBytesPerSec);
        if (init.metrics) cell.metricsServer = await MetricsServer.start(init.metrics, cell.metrics);
      } catch (err) {
        // Undo what did start (timers, handlers, stores) before the transport and the lock go below.
        await cell.stop().catch(() => undefined);
        throw err;
      }
      return cell;
    } catch (err) {
      await transport?.close();
      await unlock();
      throw err;
    }
  }

  /** Serves, then starts membership and the policies; stop() undoes each step in reverse. */
  private async start(firstHealInMs: number): Promise<void> {
    this.started = true;
    const { endpoint, membership } = this.parts;
    // A quarantined cell is cut off: nothing it says is heard, except how it comes back (a higher incarnation).
    endpoint.acceptSender = (sender, type) => !membership.isQuarantined(sender) || type === MessageType.HEARTBEAT || type === MessageType.JOIN;
    this.serve();
    await membership.start();
    this.viewWatchers.start();
    this.healer.start();
    this.immune.start();
    this.differentiator.start();
    this.healer.schedule(firstHealInMs);
    this.events.record({ atMs: this.clock.wallNow(), type: 'cell-started', cellId: this.id, detail: `incarnation ${this.incarnation}` });
  }

  /**
   * Re-reads every chunk of a cell that was quarantined, in the background
   * and at `bytesPerSec`, while it serves: a large store would otherwise keep
   * the cell silent for minutes (docs/decisions/0040-serve-then-scrub.md).
   * Every read verifies, so no corrupt byte is served meanwhile; corrupt
   * chunks the scrub has not reached yet are removed quietly, not held
   * against the new incarnation (ChunkStore.selfScrub). The quarantine
   * marker goes only once the whole store was read: a cell stopped midway
   * scrubs again at its next start.
   */
  private startSelfScrub(bytesPerSec: number): void {
    const { clock, store } = this;
    const abort = new AbortController();
    const bucket = new TokenBucket(clock, bytesPerSec);
    const startedMs = clock.now();
    const record = (type: string, detail: string) => this.events.record({ atMs: clock.wallNow(), type, cellId: this.id, detail });
    record('self-scrub-started', `${store.stats().chunks} chunks, at most ${Math.round(bytesPerSec / 1024 / 1024)} MiB/s, while serving`);
    const done = store
      .selfScrub((bytes) => bucket.take(bytes, abort.signal), abort.signal)
      .then(async (r) => {
        const took = `${((clock.now() - startedMs) / 1000).toFixed(1)} s`;
        if (!r.complete) {
          record('self-scrub-stopped', `${r.checked} chunks checked, ${r.removed} corrupt removed in ${took}; the next start scrubs again`);
          return;
        }
        // Quarantined again meanwhile: the marker it wrote stays, for the next start.
        if (!this.quarantinedSelf) await unlink(path.join(this.dataDir, QUARANTINE_MARKER)).catch(() => undefined);
        record('self-scrub-finished', `${r.checked} chunks checked, ${r.removed} corrupt removed in ${took}`);
        // What it removed is short of a copy now: heal brings it back from the healthy ones.
        if (r.removed > 0) this.healer.schedule(0);
      })
      .catch((err: Error) => record('self-scrub-stopped', `failed: ${err.message}; the next start scrubs again`));
    this.selfScrub = { done: done.finally(() => (this.selfScrubDone = true)), abort };
  }

  private serve(): void {
    const { store, membership, clock } = this;
    // Handlers registered through this are dropped again by stop().
    const endpoint = this.subscriptions.on(this.endpoint);
    const log = logger('cell', this.id.slice(0, 8));
    endpoint.serve(Messages.PING, () => undefined);
    endpoint.serve(Messages.CHUNK_PUT, async (put) => {
      await store.put(put.key, put.data, put.meta, put.leafHashes);
    });
    endpoint.serve(Messages.CHUNK_GET, (key) => store.get(key));
    endpoint.serve(Messages.CHUNK_PROBE, (key) => store.get(key));
    endpoint.serve(Messages.CHUNK_RANGE, (range) => store.getLeaves(range.key, range.firstLeaf, range.leafCount));
    endpoint.serve(Messages.CHUNK_HAS, (keys) => keys.map((k) => store.has(k)));
    endpoint.serve(Messages.CHUNK_DELETE, (key) => store.delete(key));
    endpoint.serve(Messages.CHUNK_CLAIM, (keys) => store.claim(keys));
    endpoint.serve(Messages.CHUNK_COLLECT, (q) => store.collect(q.keys, q.minAgeMs, q.dryRun));
    endpoint.serve(Messages.CHUNK_LIST, (q) => store.list(q.after, q.limit));
    endpoint.serve(Messages.CHUNK_INFO, (keys) =>
      keys.map((k) => {
        const isHeld = store.has(k);
        const meta = isHeld ? store.meta(k) : { replicas: 0, isManifest: false };
        return { isHeld, isManifest: meta.isManifest, replicas: meta.replicas, verifiedAtMs: store.verifiedAtMs(k) };
      }),
    );
    endpoint.serve(Messages.CHUNK_SET_R, (q) => q.keys.map((k) => store.setReplicas(k, q.replicas)));
    endpoint.serve(Messages.REC_PUT, (list) => void this.records.merge(list));
    endpoint.serve(Messages.REC_WRITE, (list) => this.undoLog.keep(this.records.merge(list)));
    endpoint.serve(Messages.REC_UNDO, (versions) => this.records.restore(this.undoLog.take(versions)));
    endpoint.serve(Messages.REC_GET, (keys) => keys.map((k) => this.records.get(k)));
    endpoint.serve(Messages.REC_SCAN, (q) => this.records.scan(q.prefix, q.after, Math.min(q.limit ?? RECORDS_PER_MESSAGE_MAX, RECORDS_PER_MESSAGE_MAX)));
    endpoint.serve(Messages.REC_SYNC, (offer) => {
      const need: number[] = [];
      offer.forEach((r, i) => {
        const cur = this.records.get(r.k);
        if (!cur || cur.v < r.v) need.push(i);
      });
      return need;
    });
    endpoint.serve(Messages.FAULTS, (f) => {
      this.transport.faults = { ...this.transport.faults, lossRate: f.lossRate, dupRate: f.dupRate, reorderRate: f.reorderRate };
      this.events.record({ atMs: clock.wallNow(), type: 'faults-set', cellId: this.id, detail: `loss ${f.lossRate}, dup ${f.dupRate}, reorder ${f.reorderRate}` });
    });
    endpoint.serve(Messages.STATUS, () => this.status());
    endpoint.serve(
      Messages.LOCAL_GRANT,
      (): LocalGrant => ({
        machine: machineId(),
        chunkDir: path.resolve(store.chunkDir),
        incomingDir: path.resolve(store.incomingDir),
        metaPath: path.resolve(store.metaPath),
        recordsPath: path.resolve(this.records.file),
      }),
    );
    endpoint.serve(Messages.CHUNK_ADOPT, async (adopt) => {
      await store.adopt(adopt.name, adopt.key, adopt.meta, adopt.leafHashes.length > 0 ? adopt.leafHashes : null, adopt.take);
    });
    endpoint.serve(Messages.MEMBERS, () => this.members());
    this.subscriptions.add(
      store.onCorruption((r) => {
        this.events.record({ atMs: clock.wallNow(), type: 'corruption-detected', cellId: this.id, detail: `chunk ${r.key.slice(0, 12)} on this cell's disk (digest ${r.digestSeen.slice(0, 12)})` });
      }),
      membership.onEvent((e) => {
        log('%s %k', e.type, e.member.id);
        if (e.type === 'member-quarantined') this.quarantinesSeen++;
        // A role change is recorded by the cell that changes (with from -> to), not by every observer.
        if (e.type === 'role-changed') return;
        this.events.record({ atMs: clock.wallNow(), type: e.type, cellId: e.member.id, detail: `${e.member.addr} (seen by ${this.id.slice(0, 8)})` });
      }),
    );
    this.timers.push(
      clock.setInterval(() => {
        const s = store.stats();
        membership.updateSelf({ chunks: s.chunks, bytes: s.bytes, capacityBytes: s.capacityBytes });
      }, SELF_REFRESH_MS),
      // Files handed in by clients that died before asking for their adoption.
      clock.setInterval(() => void store.sweepIncoming(INCOMING_MAX_AGE_MS), INCOMING_MAX_AGE_MS),
    );
  }

  /** Where this cell's metrics are served (http://host:port/metrics), or null without --metrics. */
  get metricsUrl(): string | null {
    return this.metricsServer?.url ?? null;
  }

  status(): CellStatus {
    return {
      id: this.id,
      addr: this.address,
      pid: process.pid,
      incarnation: this.incarnation,
      startedAtMs: this.startedAtMs,
      members: this.members(),
      store: { ...this.store.stats(), records: this.records.count },
      heal: { ...this.healer.stats },
      immune: { ...this.immune.stats },
      wire: { ...this.endpoint.counters, dropped: { ...this.endpoint.counters.dropped } },
      events: this.events.recent(STATUS_EVENTS_MAX),
      clients: this.viewWatchers.clientAddrs(),
    };
  }

  /** This cell's view of the members (what MEMBERS answers, and what its watchers are sent). */
  private members(): ListedMember[] {
    const now = this.clock.now();
    return this.membership.members().map(({ lastHeardAtMs, stateSinceMs: _since, ...m }) => ({
      ...m,
      state: m.id === this.id && this.quarantinedSelf ? 'quarantined' : m.state,
      lastHeardMs: Math.max(0, Math.round(now - lastHeardAtMs)),
    }));
  }

  /**
   * Orderly shutdown, undoing start() in reverse: periodic work and the
   * policies stop, membership stops, what serve() registered is removed, the
   * endpoint stops (closing the transport), the stores close and the data
   * dir is released. Idempotent: every call returns the same promise.
   * An orderly stop first says goodbye (`leave`, the default); a simulated
   * crash (tests) stops without one, as a SIGKILLed process would.
   */
  stop(opts: { leave?: boolean } = {}): Promise<void> {
    this.stopping ??= (async () => {
      await this.metricsServer?.stop();
      for (const t of this.timers.splice(0)) t.clear();
      // A self-scrub under way ends at its next chunk; the marker stays, so the next start scrubs again.
      this.selfScrub?.abort.abort();
      await this.selfScrub?.done;
      if (opts.leave ?? true) {
        // First the goodbye, so that peers and clients stop counting on this cell while it winds down, and
        // hold it 'left' (expected back) rather than dead. Then the members it knew, for its next start.
        await this.membership.leave();
        await rememberMembers(this.dataDir, this.membership.members().slice(1));
      }
      this.differentiator.stop();
      this.viewWatchers.stop();
      await this.immune.stop();
      await this.healer.stop();
      await this.membership.stop();
      this.subscriptions.clear();
      this.endpoint.acceptSender = () => true;
      this.started = false;
      await this.endpoint.stop();
      await this.transport.close();
      await this.store.close();
      await this.records.close();
      await this.parts.unlock();
    })();
    return this.stopping;
  }

  /** Whether the self-scrub of a rehabilitation still runs in the background. */
  get isSelfScrubbing(): boolean {
    return this.selfScrub !== null && !this.selfScrubDone;
  }

  /** True from start until stop() begins. */
  get isRunning(): boolean {
    return this.started && this.stopping === null;
  }
}
