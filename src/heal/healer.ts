import { setMaxListeners } from 'node:events';
import {
  CellError,
  HAS_KEYS_MAX,
  TokenBucket,
  logger,
  type Addr,
  type CellId,
  type ChunkKey,
  type Clock,
  type HealConfig,
  type PlacementConfig,
  type TimerHandle,
  type Unsubscribe,
} from '../core/index.js';
import { isAway, type Member, type Membership, type MembershipEvent, type MembershipEventType } from '../membership/index.js';
import { placementOrder, storageCandidates } from '../placement/index.js';
import type { Endpoint } from '../rpc/index.js';
import type { ChunkStore, RecordStore, VersionedRecord } from '../store/index.js';
import { Messages } from '../wire/index.js';
import { groupOf, placementKeyOf } from '../namespace/index.js';
import { LocalPush } from './local-push.js';

export interface HealerComponents {
  clock: Clock;
  endpoint: Endpoint;
  store: ChunkStore;
  records: RecordStore;
  membership: Membership;
}

export interface HealerInit {
  heal: HealConfig;
  placement: PlacementConfig;
  /** Records what healing does, for status and the dashboard. */
  onEvent: (type: string, detail: string) => void;
  /** Copies to cells on this machine go as files they adopt (LocalPush); false: every copy crosses the network. */
  localPushes: boolean;
  logPrefix?: string;
}

export interface HealStats {
  passes: number;
  /** Copies this cell pushed to other cells. */
  pushed: number;
  pushedBytes: number;
  /** Surplus copies this cell dropped after confirming R copies elsewhere. */
  removed: number;
  /** Keys found under-replicated by the last pass, for every key this cell is responsible for. */
  lastPassRepairs: number;
  lastPassMs: number;
  /** Namespace records sent to home cells that lacked them or held older versions. */
  recordsPushed: number;
  /** Namespace records this cell dropped, not being their home, once every home confirmed the version or a newer one. */
  recordsDropped: number;
  /** Keys the last pass found short of R present copies, counted at R only because a member that left (in its grace) is a home. */
  heldForLeft: number;
  /** What healing is doing now, or why a repair waits (for status and `top`); '' when idle. */
  activity: string;
}

/** Events after which copies may be missing: a running pass is cut short and a new one plans with the news. */
const PREEMPTING: ReadonlySet<MembershipEventType> = new Set(['member-died', 'member-quarantined']);

/** A HAS answer per cell for a batch: null when the cell did not answer. */
type Presence = Map<CellId, boolean[] | null>;

const HAS_TIMEOUT_MS = 2_000;
const PUSH_TIMEOUT_MS = 10_000;
/** Records offered per message. */
const RECORD_SYNC_BATCH = 256;
/** Periodic passes between two full record syncs (between them, only changed records are offered). */
const FULL_RECORD_SYNC_EVERY = 6;
/**
 * A cell drops the records it handed over only once the live storage cells
 * have stayed the same this long in its view. Other cells learn of a join,
 * death or role change a heartbeat or two later, and clients a second after
 * the cell they ask (SwarmClient's view); until then a client reads a
 * record's former homes, and two of them answering "absent" would outvote
 * the one that has it. Once a client sees the change it asks beyond the
 * homes for a while (RecordsClient), where the new homes answer.
 */
const RECORD_DROP_SETTLE_MS = 10_000;

/**
 * Anti-entropy for the chunks this cell holds. For each chunk it asks every
 * live storage cell whether it has a copy (a live cell that does not answer
 * counts as holding: only the failure detector's verdict makes copies, so a
 * slow or stopping cell costs none), and:
 *  - fewer than R copies: one holder (exactly one cell given the same view,
 *    picked by the key among the holders that answered) pushes copies to the
 *    first non-holders in placement order;
 *  - R or more, but a home cell (one of the first R in placement order) lacks
 *    it: that holder pushes it home (hinted handoff returning);
 *  - every home cell has it and this cell is not a home cell: this cell drops
 *    its surplus copy, after re-confirming the home copies just before.
 * A cell that is not storage holds no home copy: it pushes a chunk home only
 * when no storage cell has it, and drops it once the homes have it.
 * Namespace records move the same way (syncRecords): every holder offers
 * them to their home cells, and a cell that is not a record's home drops its
 * copy once every home confirmed holding it or a newer version.
 * A member that left on purpose (an orderly stop) stays a placement
 * candidate for heal.leftGraceMs, its home copies counted as held: its
 * return makes nothing surplus. After the grace it is gone like a dead one.
 * A pass runs on every membership change (after a short settle) and
 * periodically; a death (or quarantine, or a grace that ends) cuts a
 * running pass short so that the repair starts at once. Pushes share a
 * bandwidth bucket.
 */
export class Healer {
  readonly stats: HealStats = { passes: 0, pushed: 0, pushedBytes: 0, removed: 0, lastPassRepairs: 0, lastPassMs: 0, recordsPushed: 0, recordsDropped: 0, heldForLeft: 0, activity: '' };
  private readonly log;
  private readonly bucket: TokenBucket;
  private timers: TimerHandle[] = [];
  private soon: TimerHandle | null = null;
  /** Removes the membership listener start() gave. */
  private unsubscribe: Unsubscribe | null = null;
  private running: Promise<void> | null = null;
  /** Aborts the running pass's requests (a death cuts it short). */
  private abort: AbortController | null = null;
  private again = false;
  /** Fires when the grace of the first member that left ends: its chunks are then repaired. */
  private graceTimer: TimerHandle | null = null;
  /** Passes since the last full record sync (a full one runs after membership changes and every FULL_RECORD_SYNC_EVERY passes). */
  private passesSinceFullSync = Infinity;
  /** The live storage cells of the last pass, and since when (clock ms) they have been these. */
  private storageSeen = '';
  private storageSinceMs = 0;
  private stopped = true;
  private readonly local: LocalPush | null;

  constructor(private readonly components: HealerComponents, private readonly init: HealerInit) {
    this.log = logger('heal', init.logPrefix);
    this.bucket = new TokenBucket(components.clock, init.heal.repairBytesPerSec);
    this.local = init.localPushes ? new LocalPush(components) : null;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.unsubscribe = this.components.membership.onEvent(this.onMembershipEvent);
    this.timers.push(this.components.clock.setInterval(() => this.schedule(0), this.init.heal.antiEntropyMs));
  }

  /** Undoes start(): the membership listener removed, timers cleared; waits for a running pass to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const t of this.timers.splice(0)) t.clear();
    this.soon?.clear();
    this.soon = null;
    this.graceTimer?.clear();
    this.graceTimer = null;
    this.abort?.abort();
    await this.running?.catch(() => {});
  }

  private readonly onMembershipEvent = (e: MembershipEvent): void => {
    if (this.stopped || e.type === 'member-suspected') return;
    this.passesSinceFullSync = Infinity;
    if (PREEMPTING.has(e.type)) this.preempt(`${e.type} ${e.member.id.slice(0, 8)}`);
    else this.schedule(this.init.heal.settleMs);
    if (e.type === 'member-left') this.armGraceTimer();
  };

  /** Cuts a running pass short (its requests aborted) and plans a new one after the settle: copies are missing now. */
  private preempt(why: string): void {
    if (this.running) this.abort?.abort();
    this.schedule(this.init.heal.settleMs);
    this.stats.activity = `repair starting (${why})`;
  }

  /** Runs a pass after delayMs; a request during a running pass queues exactly one more. */
  schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.soon) return;
    this.soon = this.components.clock.setTimeout(() => {
      this.soon = null;
      const abort = new AbortController();
      // Every request of the pass listens on it (repairConcurrency pushes, one question per cell): more than Node's default of 10.
      setMaxListeners(0, abort.signal);
      this.abort = abort;
      this.running = this.pass(abort.signal)
        .catch((err: Error) => {
          if (!abort.signal.aborted) this.log('pass failed: %s', err.message);
        })
        .finally(() => {
          this.running = null;
          this.abort = null;
          if (this.again) {
            this.again = false;
            this.schedule(this.init.heal.settleMs);
          }
        });
    }, delayMs);
  }

  /** Arms a timer for the moment the first grace of a member that left ends (a pass then repairs its chunks). */
  private armGraceTimer(): void {
    this.graceTimer?.clear();
    this.graceTimer = null;
    const { clock, membership } = this.components;
    const graceMs = this.init.heal.leftGraceMs;
    const now = clock.now();
    const ends = membership.members().filter((m) => m.role === 'storage' && isAway(m, now, graceMs)).map((m) => m.stateSinceMs + graceMs);
    if (this.stopped || ends.length === 0) return;
    this.graceTimer = clock.setTimeout(() => {
      this.graceTimer = null;
      this.preempt('the grace of a cell that left ended');
      this.armGraceTimer();
    }, Math.max(1, Math.min(...ends) - now));
  }

  /** Resolves when no pass is running or scheduled (tests and benchmarks). */
  async idle(): Promise<void> {
    while (this.running || this.soon) await (this.running ?? new Promise<void>((r) => this.components.clock.setTimeout(r, 10)));
  }

  private async pass(signal: AbortSignal): Promise<void> {
    const started = this.components.clock.now();
    const { membership, store, records } = this.components;
    const members = membership.members();
    const self = members[0]!;
    // A cell that is not storage (a stem or guard now, or a new cell at the address of one that died) holds
    // chunks no placement sends readers to: it hands each to its home cells and then drops it as surplus.
    const isStorage = self.role === 'storage';
    const keys = [...store.keys()];
    if (!isStorage && keys.length === 0 && records.count === 0) return;
    const byId = new Map(members.map((m) => [m.id, m]));
    const { weightByCapacity } = this.init.placement;
    const live = storageCandidates(members, weightByCapacity);
    // Members that left on purpose, in their grace: placement keeps their place, their home copies count as held.
    const away = new Set(members.filter((m) => m.role === 'storage' && isAway(m, started, this.init.heal.leftGraceMs)).map((m) => m.id));
    const candidates = storageCandidates(members.map((m) => (away.has(m.id) ? { ...m, state: 'alive' as const } : m)), weightByCapacity);
    const others = live.map((c) => byId.get(c.id)!).filter((m) => m.id !== self.id);
    const storage = live.map((c) => c.id).sort().join();
    if (storage !== this.storageSeen) {
      this.storageSeen = storage;
      this.storageSinceMs = started;
    }
    // Records first: they are small, and until a record reaches its new
    // homes, reads of it must ask beyond them (see RecordsClient). Their
    // homes are the live cells': clients look for them there.
    await this.syncRecords(self.id, live, byId, started - this.storageSinceMs >= RECORD_DROP_SETTLE_MS, signal);
    let repairs = 0;
    let heldForLeft = 0;
    for (let i = 0; i < keys.length && !signal.aborted; i += HAS_KEYS_MAX) {
      const batch = keys.slice(i, i + HAS_KEYS_MAX);
      this.stats.activity = `asking ${others.length} cells which of ${batch.length} chunks they hold (${i} of ${keys.length} checked)`;
      const presence = await this.ask(others, batch, signal);
      if (signal.aborted) break;
      const surplus: ChunkKey[] = [];
      const pushes: { key: ChunkKey; to: Member[] }[] = [];
      batch.forEach((key, j) => {
        if (!store.has(key)) return;
        const order = placementOrder(key, candidates);
        const replicas = Math.min(store.meta(key).replicas, order.length);
        const home = order.slice(0, replicas);
        // A live cell that did not answer may hold it: no copy is made for want of an answer, only for a verdict.
        const unanswered = (id: CellId) => presence.get(id) === null;
        const present = (id: CellId) => id === self.id || presence.get(id)?.[j] === true || unanswered(id);
        const holds = (id: CellId) => present(id) || (away.has(id) && home.includes(id));
        const holders = order.filter(holds);
        const pushers = order.filter((id) => id === self.id || presence.get(id)?.[j] === true);
        if (holders.length >= replicas && order.filter(present).length < replicas) heldForLeft++;
        // One holder pushes, the same in every view: chosen by the key among those that answered, so a
        // death's copies are spread over all holders, not left to whichever ranks first. Not storage:
        // this copy pushes only when no storage cell has one.
        const isFirstHolder = isStorage ? pushers[pusherIndex(key, pushers.length)] === self.id : holders.length === 0;
        // Targets: cells that answered they lack it (never one that left or did not answer).
        const lacks = (id: CellId) => !holds(id) && presence.get(id) !== undefined && !unanswered(id);
        if (holders.length < replicas) {
          repairs++;
          if (isFirstHolder) pushes.push({ key, to: order.filter(lacks).slice(0, replicas - holders.length).map((id) => byId.get(id)!) });
        } else if (!home.every(holds)) {
          if (isFirstHolder) pushes.push({ key, to: home.filter(lacks).map((id) => byId.get(id)!) });
        } else if (!home.includes(self.id) && home.every((id) => id === self.id || presence.get(id)?.[j] === true) && !order.some(unanswered)) {
          surplus.push(key);
        }
      });
      await this.push(pushes, signal);
      await this.dropSurplus(surplus, candidates, byId, signal);
    }
    if (signal.aborted) return;
    this.stats.passes++;
    this.stats.lastPassRepairs = repairs;
    this.stats.heldForLeft = heldForLeft;
    this.stats.lastPassMs = this.components.clock.now() - started;
    this.stats.activity = heldForLeft > 0 ? `${heldForLeft} chunks at R-1 wait for ${[...away].map((id) => id.slice(0, 8)).join(', ')} to return (left on purpose; repaired when the grace of ${this.init.heal.leftGraceMs / 1000} s ends)` : '';
    this.armGraceTimer();
    if (repairs > 0) this.log('pass: %d under-replicated keys seen, %d ms', repairs, this.stats.lastPassMs);
  }

  /**
   * Namespace records: offers local records to the home cells of their
   * group and sends those they lack or hold older. Records are small, so
   * every holder offers (no single pusher); last-writer-wins makes the extra
   * offers harmless. A periodic pass offers only the records written since
   * the previous one; after a membership change, and every
   * FULL_RECORD_SYNC_EVERY passes, every record is offered.
   * A record this cell is not a home of (its group moved when cells joined,
   * died or changed role; or this cell is not storage) is dropped once every
   * home took the offer: each then holds this version or a newer one. A
   * stale copy, a live record its homes have deleted since included, is
   * dropped the same way, so it can neither come back nor keep chunks alive.
   * Until the storage cells have been steady for RECORD_DROP_SETTLE_MS
   * (`mayDrop` false) nothing is dropped, and the next pass offers
   * everything again.
   */
  private async syncRecords(selfId: CellId, candidates: ReturnType<typeof storageCandidates>, byId: Map<CellId, Member>, mayDrop: boolean, signal: AbortSignal): Promise<void> {
    const { records } = this.components;
    const changed = records.takeChanged();
    const full = changed === null || this.passesSinceFullSync >= FULL_RECORD_SYNC_EVERY;
    this.passesSinceFullSync = full ? 0 : this.passesSinceFullSync + 1;
    const homesByGroup = new Map<string, CellId[]>();
    const homesOf = (key: string) => {
      const group = groupOf(key);
      let homes = homesByGroup.get(group);
      if (!homes) {
        homes = placementOrder(placementKeyOf(key), candidates).slice(0, this.init.placement.replicas);
        homesByGroup.set(group, homes);
      }
      return homes;
    };
    for (const batch of full ? allRecordBatches(records) : changedRecordBatches(records, changed ?? [])) {
      if (signal.aborted) return;
      const byCell = new Map<CellId, VersionedRecord[]>();
      const away: VersionedRecord[] = [];
      for (const r of batch) {
        const homes = homesOf(r.k);
        if (homes.length > 0 && !homes.includes(selfId)) away.push(r);
        for (const id of homes) {
          if (id === selfId) continue;
          if (!byCell.has(id)) byCell.set(id, []);
          byCell.get(id)!.push(r);
        }
      }
      const confirmed = new Set<CellId>();
      await Promise.all(
        [...byCell].map(async ([id, recs]) => {
          if (await this.offerRecords(byId.get(id)!.addr, recs, signal)) confirmed.add(id);
        }),
      );
      const handedOver = away.filter((r) => homesOf(r.k).every((id) => confirmed.has(id)));
      if (handedOver.length > 0 && !mayDrop) this.passesSinceFullSync = Infinity;
      else if (handedOver.length > 0) {
        const dropped = records.dropIfUnchanged(handedOver);
        this.stats.recordsDropped += dropped;
        if (dropped > 0) this.log('dropped %d records whose homes hold them', dropped);
      }
    }
  }

  /** Offers records to a cell and sends those it lacks or holds older; true when it then holds every one at this version or newer. */
  private async offerRecords(addr: Addr, recs: VersionedRecord[], signal: AbortSignal): Promise<boolean> {
    try {
      const need = await this.components.endpoint.call(addr, Messages.REC_SYNC, recs, { timeoutMs: HAS_TIMEOUT_MS, signal });
      // As they are now, not as offered: a write undone meanwhile (docs/decisions/0029) must not be spread.
      const send = need.flatMap((i) => this.components.records.get(recs[i]!.k) ?? []);
      if (send.length > 0) {
        await this.components.endpoint.call(addr, Messages.REC_PUT, send, { timeoutMs: PUSH_TIMEOUT_MS, signal });
        this.stats.recordsPushed += send.length;
      }
      return true;
    } catch (err) {
      this.log('record sync with %s failed: %s', addr, (err as Error).message);
      return false;
    }
  }

  /** HAS for a batch on every cell at once. */
  private async ask(cells: Member[], batch: ChunkKey[], signal: AbortSignal): Promise<Presence> {
    const encoded = Messages.CHUNK_HAS.request.encode(batch);
    const presence: Presence = new Map();
    await Promise.all(
      cells.map(async (m) => {
        try {
          presence.set(m.id, await this.components.endpoint.call(m.addr, Messages.CHUNK_HAS, batch, { timeoutMs: HAS_TIMEOUT_MS, encoded, signal }));
        } catch {
          presence.set(m.id, null);
        }
      }),
    );
    return presence;
  }

  private async push(pushes: { key: ChunkKey; to: Member[] }[], signal: AbortSignal): Promise<void> {
    const jobs = pushes.flatMap((p) => p.to.map((to) => ({ key: p.key, to })));
    if (jobs.length === 0) return;
    this.init.onEvent('repair-started', `${jobs.length} copies to make`);
    let done = 0;
    let next = 0;
    const worker = async () => {
      while (next < jobs.length && !signal.aborted) {
        this.stats.activity = `repairing: ${done} of ${jobs.length} copies made`;
        const { key, to } = jobs[next++]!;
        let data: Buffer;
        try {
          data = await this.components.store.get(key);
        } catch (err) {
          this.log('cannot read %k to repair it: %s', key, (err as Error).message);
          continue;
        }
        await this.bucket.take(data.length, signal);
        if (signal.aborted) break;
        try {
          const { store, endpoint } = this.components;
          const chunk = { key, data, meta: store.meta(key), leafHashes: store.knownLeafHashes(key) };
          const incomingDir = await this.local?.incomingDirOf(to.id, to.addr, signal);
          if (incomingDir) await this.local!.push(to.addr, incomingDir, chunk, PUSH_TIMEOUT_MS, signal);
          else await endpoint.call(to.addr, Messages.CHUNK_PUT, chunk, { timeoutMs: PUSH_TIMEOUT_MS, signal });
          done++;
          this.stats.pushed++;
          this.stats.pushedBytes += data.length;
        } catch (err) {
          // The next pass (on the death event that is surely coming, or the periodic one) re-plans.
          this.log('push of %k to %s failed: %s', key, to.addr, (err as CellError).message);
        }
      }
    };
    await Promise.all(Array.from({ length: this.init.heal.repairConcurrency }, worker));
    this.init.onEvent('repair-finished', `${done} of ${jobs.length} copies made${signal.aborted ? ' (cut short: membership changed, planning again)' : ''}`);
  }

  /** Drops local copies whose home cells all hold the chunk, asked again right now: never below R. */
  private async dropSurplus(keys: ChunkKey[], candidates: ReturnType<typeof storageCandidates>, byId: Map<CellId, Member>, signal: AbortSignal): Promise<void> {
    if (keys.length === 0 || signal.aborted) return;
    const homes = new Map<ChunkKey, CellId[]>();
    const cells = new Set<CellId>();
    for (const key of keys) {
      const order = placementOrder(key, candidates);
      const home = order.slice(0, Math.min(this.components.store.meta(key).replicas, order.length));
      homes.set(key, home);
      home.forEach((id) => cells.add(id));
    }
    const confirm = await this.ask([...cells].map((id) => byId.get(id)!), keys, signal);
    let removed = 0;
    for (const [j, key] of keys.entries()) {
      if (signal.aborted) break;
      if (homes.get(key)!.every((id) => confirm.get(id)?.[j] === true)) {
        await this.components.store.delete(key);
        removed++;
      }
    }
    this.stats.removed += removed;
    if (removed > 0) this.init.onEvent('surplus-removed', `${removed} surplus copies dropped`);
  }
}

/** Which of n holders pushes copies of a key: spread evenly by the key's first bits. */
function pusherIndex(key: ChunkKey, n: number): number {
  return parseInt(key.slice(0, 8), 16) % n;
}

function* allRecordBatches(records: RecordStore): Generator<VersionedRecord[]> {
  for (let after: string | null = null; ; ) {
    const batch = records.scan('', after, RECORD_SYNC_BATCH);
    if (batch.length === 0) return;
    yield batch;
    after = batch[batch.length - 1]!.k;
  }
}

function* changedRecordBatches(records: RecordStore, keys: string[]): Generator<VersionedRecord[]> {
  for (let i = 0; i < keys.length; i += RECORD_SYNC_BATCH) {
    yield keys.slice(i, i + RECORD_SYNC_BATCH).flatMap((k) => records.get(k) ?? []);
  }
}
