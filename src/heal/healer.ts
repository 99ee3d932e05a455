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
import type { Member, Membership, MembershipEvent } from '../membership/index.js';
import { placementOrder, storageCandidates } from '../placement/index.js';
import type { Endpoint } from '../rpc/index.js';
import type { ChunkStore, RecordStore, VersionedRecord } from '../store/index.js';
import { Messages } from '../wire/index.js';
import { groupOf, placementKeyOf } from '../namespace/index.js';

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
}

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
 * live storage cell whether it has a copy, and:
 *  - fewer than R copies: the first live holder in placement order (exactly
 *    one cell, given the same view) pushes copies to the first non-holders in
 *    placement order;
 *  - R or more, but a home cell (one of the first R in placement order) lacks
 *    it: the first holder pushes it home (hinted handoff returning);
 *  - every home cell has it and this cell is not a home cell: this cell drops
 *    its surplus copy, after re-confirming the home copies just before.
 * A cell that is not storage holds no home copy: it pushes a chunk home only
 * when no storage cell has it, and drops it once the homes have it.
 * Namespace records move the same way (syncRecords): every holder offers
 * them to their home cells, and a cell that is not a record's home drops its
 * copy once every home confirmed holding it or a newer version.
 * A pass runs on every membership change (after a short settle) and
 * periodically; pushes share a bandwidth bucket.
 */
export class Healer {
  readonly stats: HealStats = { passes: 0, pushed: 0, pushedBytes: 0, removed: 0, lastPassRepairs: 0, lastPassMs: 0, recordsPushed: 0, recordsDropped: 0 };
  private readonly log;
  private readonly bucket: TokenBucket;
  private timers: TimerHandle[] = [];
  private soon: TimerHandle | null = null;
  /** Removes the membership listener start() gave. */
  private unsubscribe: Unsubscribe | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  /** Passes since the last full record sync (a full one runs after membership changes and every FULL_RECORD_SYNC_EVERY passes). */
  private passesSinceFullSync = Infinity;
  /** The live storage cells of the last pass, and since when (clock ms) they have been these. */
  private storageSeen = '';
  private storageSinceMs = 0;
  private stopped = true;

  constructor(private readonly components: HealerComponents, private readonly init: HealerInit) {
    this.log = logger('heal', init.logPrefix);
    this.bucket = new TokenBucket(components.clock, init.heal.repairBytesPerSec);
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
    await this.running?.catch(() => {});
  }

  private readonly onMembershipEvent = (e: MembershipEvent): void => {
    if (this.stopped || e.type === 'member-suspected') return;
    this.passesSinceFullSync = Infinity;
    this.schedule(this.init.heal.settleMs);
  };

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
      this.running = this.pass()
        .catch((err: Error) => this.log('pass failed: %s', err.message))
        .finally(() => {
          this.running = null;
          if (this.again) {
            this.again = false;
            this.schedule(this.init.heal.settleMs);
          }
        });
    }, delayMs);
  }

  /** Resolves when no pass is running or scheduled (tests and benchmarks). */
  async idle(): Promise<void> {
    while (this.running || this.soon) await (this.running ?? new Promise<void>((r) => this.components.clock.setTimeout(r, 10)));
  }

  private async pass(): Promise<void> {
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
    const candidates = storageCandidates(members, this.init.placement.weightByCapacity);
    const others = candidates.map((c) => byId.get(c.id)!).filter((m) => m.id !== self.id);
    const storage = candidates.map((c) => c.id).sort().join();
    if (storage !== this.storageSeen) {
      this.storageSeen = storage;
      this.storageSinceMs = started;
    }
    // Records first: they are small, and until a record reaches its new
    // homes, reads of it must ask beyond them (see RecordsClient).
    await this.syncRecords(self.id, candidates, byId, started - this.storageSinceMs >= RECORD_DROP_SETTLE_MS);
    let repairs = 0;
    for (let i = 0; i < keys.length && !this.stopped; i += HAS_KEYS_MAX) {
      const batch = keys.slice(i, i + HAS_KEYS_MAX);
      const presence = await this.ask(others, batch);
      const surplus: ChunkKey[] = [];
      const pushes: { key: ChunkKey; to: Member[] }[] = [];
      batch.forEach((key, j) => {
        if (!store.has(key)) return;
        const order = placementOrder(key, candidates);
        const holds = (id: CellId) => id === self.id || presence.get(id)?.[j] === true;
        const unknown = order.some((id) => id !== self.id && presence.get(id) === null);
        const holders = order.filter(holds);
        const replicas = Math.min(store.meta(key).replicas, order.length);
        const home = order.slice(0, replicas);
        // Not storage: this copy pushes only when no storage cell has one.
        const isFirstHolder = isStorage ? holders[0] === self.id : holders.length === 0;
        if (holders.length < replicas) {
          repairs++;
          if (isFirstHolder) {
            const to = order.filter((id) => !holds(id) && presence.get(id) !== null).slice(0, replicas - holders.length);
            pushes.push({ key, to: to.map((id) => byId.get(id)!) });
          }
        } else if (!home.every(holds)) {
          if (isFirstHolder) pushes.push({ key, to: home.filter((id) => !holds(id) && presence.get(id) !== null).map((id) => byId.get(id)!) });
        } else if (!home.includes(self.id) && !unknown) {
          surplus.push(key);
        }
      });
      await this.push(pushes);
      await this.dropSurplus(surplus, candidates, byId);
    }
    this.stats.passes++;
    this.stats.lastPassRepairs = repairs;
    this.stats.lastPassMs = this.components.clock.now() - started;
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
  private async syncRecords(selfId: CellId, candidates: ReturnType<typeof storageCandidates>, byId: Map<CellId, Member>, mayDrop: boolean): Promise<void> {
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
      if (this.stopped) return;
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
          if (await this.offerRecords(byId.get(id)!.addr, recs)) confirmed.add(id);
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
  private async offerRecords(addr: Addr, recs: VersionedRecord[]): Promise<boolean> {
    try {
      const need = await this.components.endpoint.call(addr, Messages.REC_SYNC, recs, { timeoutMs: HAS_TIMEOUT_MS });
      // As they are now, not as offered: a write undone meanwhile (docs/decisions/0029) must not be spread.
      const send = need.flatMap((i) => this.components.records.get(recs[i]!.k) ?? []);
      if (send.length > 0) {
        await this.components.endpoint.call(addr, Messages.REC_PUT, send, { timeoutMs: PUSH_TIMEOUT_MS });
        this.stats.recordsPushed += send.length;
      }
      return true;
    } catch (err) {
      this.log('record sync with %s failed: %s', addr, (err as Error).message);
      return false;
    }
  }

  /** HAS for a batch on every cell at once. */
  private async ask(cells: Member[], batch: ChunkKey[]): Promise<Presence> {
    const encoded = Messages.CHUNK_HAS.request.encode(batch);
    const presence: Presence = new Map();
    await Promise.all(
      cells.map(async (m) => {
        try {
          presence.set(m.id, await this.components.endpoint.call(m.addr, Messages.CHUNK_HAS, batch, { timeoutMs: HAS_TIMEOUT_MS, encoded }));
        } catch {
          presence.set(m.id, null);
        }
      }),
    );
    return presence;
  }

  private async push(pushes: { key: ChunkKey; to: Member[] }[]): Promise<void> {
    const jobs = pushes.flatMap((p) => p.to.map((to) => ({ key: p.key, to })));
    if (jobs.length === 0) return;
    this.init.onEvent('repair-started', `${jobs.length} copies to make`);
    let done = 0;
    let next = 0;
    const worker = async () => {
      while (next < jobs.length && !this.stopped) {
        const { key, to } = jobs[next++]!;
        let data: Buffer;
        try {
          data = await this.components.store.get(key);
        } catch (err) {
          this.log('cannot read %k to repair it: %s', key, (err as Error).message);
          continue;
        }
        await this.bucket.take(data.length);
        try {
          const { store, endpoint } = this.components;
          await endpoint.call(to.addr, Messages.CHUNK_PUT, { key, data, meta: store.meta(key), leafHashes: store.knownLeafHashes(key) }, { timeoutMs: PUSH_TIMEOUT_MS });
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
    this.init.onEvent('repair-finished', `${done} of ${jobs.length} copies made`);
  }

  /** Drops local copies whose home cells all hold the chunk, asked again right now: never below R. */
  private async dropSurplus(keys: ChunkKey[], candidates: ReturnType<typeof storageCandidates>, byId: Map<CellId, Member>): Promise<void> {
    if (keys.length === 0) return;
    const homes = new Map<ChunkKey, CellId[]>();
    const cells = new Set<CellId>();
    for (const key of keys) {
      const order = placementOrder(key, candidates);
      const home = order.slice(0, Math.min(this.components.store.meta(key).replicas, order.length));
      homes.set(key, home);
      home.forEach((id) => cells.add(id));
    }
    const confirm = await this.ask([...cells].map((id) => byId.get(id)!), keys);
    let removed = 0;
    for (const [j, key] of keys.entries()) {
      if (homes.get(key)!.every((id) => confirm.get(id)?.[j] === true)) {
        await this.components.store.delete(key);
        removed++;
      }
    }
    this.stats.removed += removed;
    if (removed > 0) this.init.onEvent('surplus-removed', `${removed} surplus copies dropped`);
  }
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
