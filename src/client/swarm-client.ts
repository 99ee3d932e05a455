import { LRUCache } from 'lru-cache';
import {
  CellError,
  HAS_KEYS_MAX,
  chunkKeyOf,
  defaultConfig,
  defaultReadHedgeConfig,
  isCellError,
  leafHashesOf,
  leafRootOf,
  leavesMatch,
  logger,
  newCellId,
  type Addr,
  type BufferPool,
  type ChunkKey,
  type ChunkMeta,
  type Clock,
  type MemberViewConfig,
  type PlacementConfig,
  type ReadHedgeConfig,
  type Rng,
  type TimerHandle,
  type Transport,
  type WireConfig,
} from '../core/index.js';
import type { MemberState } from '../membership/index.js';
import type { RecordEnvelope } from '../namespace/index.js';
import { isLiveStorage, placementOrder, storageCandidates, type PlacementMember } from '../placement/index.js';
import { Endpoint, type CallOptions } from '../rpc/index.js';
import { KeyRing, MessageType, Messages, type CellStatus, type LocalGrant, type RequestSpec } from '../wire/index.js';
import { hedgedRead, type ReplicaHealth } from './hedged-read.js';
import { LocalCells, type StagedFile } from './local-cells.js';
import { MemberWatch } from './member-watch.js';
import type { LocalDisk, ReplacedRecord } from './local-disk.js';
import { ReadHedgePolicy } from './read-hedge.js';
import { noCellAnswered } from './no-answer.js';

const log = logger('client');

export interface SwarmClientComponents {
  /** Bound already; the client's endpoint closes it on close(). */
  transport: Transport;
  clock: Clock;
  rng: Rng;
  /**
   * The disks of cells on this machine (store/'s LocalCellDisks): chunks are
   * read and handed over as files, and records merged, with cells here that
   * grant it (see LocalCells). Absent: everything crosses the network. The
   * client closes it on close().
   */
  localDisk?: LocalDisk;
}

export interface SwarmClientInit {
  swarmKey: Buffer;
  /** Cells to ask first about the swarm (e.g. from swarm.json). The client has a random id and is not a member. */
  seeds?: Addr[];
  wire?: WireConfig;
  placement?: PlacementConfig;
  /** How the member view is kept current (defaults: defaultConfig().views). */
  views?: MemberViewConfig;
  /** A mount's own directory, never read as a cell's (see LocalCells). */
  ownMount?: string;
  /** When reads ask the next replica too (defaultReadHedgeConfig()). */
  readHedge?: ReadHedgeConfig;
}

/** A member as the client sees it: what some cell told us. */
export interface MemberView extends PlacementMember {
  addr: Addr;
  state: MemberState;
  pid: number;
  chunks: number;
  bytes: number;
  lastHeardMs: number;
}

/** A chunk read from a cell's files on this machine that has not finished by then is given up on (the network may reach another copy). */
const LOCAL_READ_GIVE_UP_MS = 1_000;
/** If every replica failed, those that only timed out get one more, patient try: a slow answer beats EIO. */
const GET_LAST_TRY_MS = 6_000;
/** Chunks whose placement order a client remembers for reading (a few hundred bytes each). */
const READ_ORDERS_MAX = 8_192;
/** A PUT of one chunk to one cell, acks included. */
const PUT_TIMEOUT_MS = 8_000;
const GRANT_TIMEOUT_MS = 1_000;
/** A cell that timed out on us, or was late for a read, is tried last for this long (ms), or until it answers: we learn faster than the failure detector. */
const SHUN_MS = 5_000;

/**
 * How the CLI, the mount and tools reach the swarm: a short-lived endpoint
 * with its own id, a member list learned from any cell, and chunk reads and
 * writes placed by rendezvous hashing with failover.
 */
export class SwarmClient implements ReplicaHealth {
  /** When chunk reads ask the next replica (see hedgedRead). */
  readonly hedge: ReadHedgePolicy;
  private view: MemberView[] = [];
  /** Keeps `view` current: news pushed by one watched cell (docs/decisions/0035-pushed-member-views.md). */
  private readonly watch: MemberWatch;
  /** Cells that recently failed to answer us, until when (monotonic ms). */
  private readonly shunned = new Map<Addr, number>();
  /** When the set of live storage cells last changed in this client's view (monotonic ms). */
  private storageChangedAtMs = -Infinity;
  private storageIds: string | null = null;
  /** Placement orders of chunks read lately (rankedFor), and the storage cells each view ranks over. */
  private readonly readOrders = new LRUCache<ChunkKey, { over: string; order: string[] }>({ max: READ_ORDERS_MAX });
  private readonly rankings = new WeakMap<MemberView[], { over: string; storage: MemberView[]; byId: Map<string, MemberView> }>();
  /** rangeGrantsNow's answers in the current view: a random reader asks for the same chunks again and again, and working them out is a noticeable share of a read at hand. */
  private readonly rangeGrants = new LRUCache<ChunkKey, { view: MemberView[]; grants: LocalGrant[] }>({ max: READ_ORDERS_MAX });
  readonly placement: PlacementConfig;
  private readonly local: LocalCells | null;
  readonly endpoint: Endpoint;
  readonly clock: Clock;

  constructor(components: SwarmClientComponents, init: SwarmClientInit) {
    const { transport, clock, rng, localDisk } = components;
    this.clock = clock;
    this.placement = init.placement ?? defaultConfig().placement;
    this.hedge = new ReadHedgePolicy(init.readHedge ?? defaultReadHedgeConfig());
    const endpoint = new Endpoint({ clock, rng, transport }, { id: newCellId(), keys: new KeyRing([init.swarmKey]), wire: init.wire ?? defaultConfig().wire });
    this.endpoint = endpoint;
    this.watch = new MemberWatch(
      { endpoint, clock, rng },
      { config: init.views ?? defaultConfig().views, seeds: init.seeds ?? [], onChange: (view) => this.viewChanged(view) },
    );
    this.local = localDisk
      ? new LocalCells(
          { disk: localDisk, clock, requestGrant: (addr) => endpoint.request(addr, MessageType.LOCAL_GRANT, Buffer.alloc(0), { timeoutMs: GRANT_TIMEOUT_MS }) },
          { ownMount: init.ownMount },
        )
      : null;
  }

  /** Those of `addrs` that answer with frames we cannot verify: cells of another swarm key (see noCellAnswered). */
  wrongKeyAt(addrs: readonly Addr[]): Addr[] {
    return this.endpoint.unverifiedFrom(addrs);
  }

  /** Asks the given cells for status at once; the first to answer wins. */
  async status(addrs: Addr[], timeoutMs = 1_500): Promise<CellStatus> {
    if (addrs.length === 0) throw new CellError('NO_CELL_REACHABLE', 'no cells are known in this home');
    try {
      return await Promise.any(addrs.map((a) => this.endpoint.call(a, Messages.STATUS, undefined, { timeoutMs })));
    } catch {
      throw noCellAnswered(this.endpoint, addrs);
    }
  }

  /**
   * Status from every cell that answers within graceMs of the first answer
   * (a dead cell costs nothing extra once one cell has answered).
   */
  async statusMany(addrs: Addr[], timeoutMs = 1_500, graceMs = 300): Promise<CellStatus[]> {
    if (addrs.length === 0) throw new CellError('NO_CELL_REACHABLE', 'no cells are known in this home');
    const answers: CellStatus[] = [];
    await new Promise<void>((resolve) => {
      let pending = addrs.length;
      let grace: TimerHandle | null = null;
      const done = () => {
        grace?.clear();
        resolve();
      };
      for (const a of addrs) {
        this.endpoint
          .call(a, Messages.STATUS, undefined, { timeoutMs })
          .then((status) => {
            answers.push(status);
            grace ??= this.clock.setTimeout(done, graceMs);
          })
          .catch(() => undefined)
          .finally(() => {
            if (--pending === 0) done();
          });
      }
    });
    if (answers.length === 0) throw noCellAnswered(this.endpoint, addrs);
    return answers;
  }

  /**
   * The swarm's members as the watched cell sees them, kept current by its
   * news (no request at all while watching); `fresh` asks for the whole
   * table (fsck, gc: a view that cannot lag a notice in flight).
   */
  async members(fresh = false): Promise<MemberView[]> {
    await this.watch.members(fresh);
    return this.view;
  }

  /** The cell whose news keeps this client's view current, if any. */
  get watchedCell(): Addr | null {
    return this.watch.watchedAddr;
  }

  /** Tables fetched, news applied, gaps and switches of the member view (diagnostics, tests, the view bench). */
  get viewStats(): Readonly<MemberWatch['stats']> {
    return this.watch.stats;
  }

  private viewChanged(view: MemberView[]): void {
    this.view = view;
    const storage = storageIds(view);
    if (storage !== this.storageIds) {
      if (this.storageIds !== null) this.storageChangedAtMs = this.clock.now();
      this.storageIds = storage;
    }
  }

  /** Readies local reads and writes before first use (see LocalCells.prepare). */
  async prepareLocal(): Promise<void> {
    if (this.local) await this.local.prepare((await this.members()).filter(isLiveStorage));
  }

  /** True if the set of live storage cells changed in this client's view within the last `ms` (records may still be moving to new homes). */
  storageChangedWithin(ms: number): boolean {
    return this.clock.now() - this.storageChangedAtMs <= ms;
  }

  /** Live storage cells in placement order for a key (cells that just failed us last). */
  async placementFor(key: ChunkKey): Promise<MemberView[]> {
    const members = await this.members();
    const byId = new Map(members.map((m) => [m.id, m]));
    return this.shunLast(placementOrder(key, storageCandidates(members, this.placement.weightByCapacity)).map((id) => byId.get(id)!));
  }

  /**
   * Claims chunks this client names without having stored them (the
   * unchanged chunks of a file it edits): each holder counts them as stored
   * now, so garbage collection spares them while the record that names them
   * is written. Asks each key's R home cells, then the other storage cells
   * for keys none of those holds. Returns the keys no cell holds.
   */
  async claimChunks(keys: ChunkKey[]): Promise<ChunkKey[]> {
    const members = (await this.members()).filter(isLiveStorage);
    const ask = async (byCell: Map<Addr, ChunkKey[]>): Promise<Set<ChunkKey>> => {
      const held = new Set<ChunkKey>();
      await Promise.all(
        [...byCell].map(async ([addr, ks]) => {
          for (let i = 0; i < ks.length; i += HAS_KEYS_MAX) {
            const batch = ks.slice(i, i + HAS_KEYS_MAX);
            try {
              const bits = await this.endpoint.call(addr, Messages.CHUNK_CLAIM, batch);
              bits.forEach((b, j) => b && held.add(batch[j]!));
            } catch (err) {
              log('claim of %d chunks on %s failed (%s)', batch.length, addr, (err as Error).message);
            }
          }
        }),
      );
      return held;
    };
    const homes = new Map<Addr, ChunkKey[]>();
    for (const k of keys) {
      for (const m of (await this.placementFor(k)).slice(0, this.placement.replicas)) {
        const list = homes.get(m.addr) ?? [];
        list.push(k);
        homes.set(m.addr, list);
      }
    }
    const atHome = await ask(homes);
    const rest = keys.filter((k) => !atHome.has(k));
    if (rest.length === 0) return [];
    const elsewhere = await ask(new Map(members.map((m) => [m.addr, rest])));
    return rest.filter((k) => !elsewhere.has(k));
  }

  /** Called by anyone whose request to a cell failed. */
  noteFailure(addr: Addr, err: unknown): void {
    if (!isCellError(err, 'TIMEOUT')) return;
    this.shunned.set(addr, this.clock.now() + SHUN_MS);
    this.watch.noteTimeout(addr);
  }

  /** A cell did not answer a read within its hedge delay (see hedgedRead). */
  noteLate(addr: Addr): void {
    this.shunned.set(addr, this.clock.now() + SHUN_MS);
  }

  /** A cell answered us (anything): it goes back to its place in placement orders. */
  noteAnswered(addr: Addr): void {
    this.shunned.delete(addr);
  }

  /** True while some cell that timed out on us within SHUN_MS is put last in placement orders. */
  shunsAny(): boolean {
    const now = this.clock.now();
    for (const [addr, until] of this.shunned) if (until <= now) this.shunned.delete(addr);
    return this.shunned.size > 0;
  }

  isShunned(addr: Addr): boolean {
    return this.shunsAny() && this.shunned.has(addr);
  }

  /** Stable partition: cells that timed out on us within SHUN_MS go to the end. */
  private shunLast(order: MemberView[]): MemberView[] {
    if (!this.shunsAny()) return order;
    return [...order.filter((m) => !this.shunned.has(m.addr)), ...order.filter((m) => this.shunned.has(m.addr))];
  }

  /**
   * Stores a chunk on R cells in placement order; a cell that fails is
   * replaced by the next one in order (hinted handoff: healing later moves the
   * copy home). `quorum` resolves once W copies are acknowledged; `settled`
   * once every attempt has finished. The data is sent without a copy: it must
   * not change until `settled`. The put carries the chunk's leaf hashes (range
   * reads), and `root` is what a chunk map records for them. Cells on this
   * machine that granted it adopt the chunk from a file instead (LocalCells).
   */
  async putChunk(
    data: Buffer,
    meta: ChunkMeta,
    writeQuorum = this.placement.writeQuorum,
  ): Promise<{ key: ChunkKey; root: string; quorum: Promise<number>; settled: Promise<number> }> {
    // Hashed off the event loop from the aligned copy the cells' files are written from, where there is one.
    const local = this.local;
    const copy = local?.copyOf(data) ?? null;
    let staged: Map<string, StagedFile>;
    let key: ChunkKey, leafHashes: Buffer, order: MemberView[], want: number;
    try {
      ({ key, leafHashes } = copy ? await local!.hashesOf(copy) : { key: chunkKeyOf(data), leafHashes: leafHashesOf(data) });
      order = await this.placementFor(key);
      if (order.length < writeQuorum) {
        throw new CellError('NOT_ENOUGH_CELLS', `only ${order.length} storage cell(s) reachable; ${writeQuorum} copies are needed (W=${writeQuorum})`);
      }
      want = Math.min(meta.replicas, order.length);
      // The first cells asked, where they are on this machine, take the chunk as a file written once; the rest over the network.
      staged = local ? await local.stage(key, data, order.slice(0, want), copy) : new Map<string, StagedFile>();
    } finally {
      local?.release(copy);
    }
    // Encoded once, sent without a copy to every cell that takes it over the network.
    const put = { key, data, meta, leafHashes };
    const encoded = Messages.CHUNK_PUT.request.encode(put);
    const send = async (target: MemberView): Promise<void> => {
      const file = staged.get(target.id);
      if (local && file) {
        try {
          await this.endpoint.call(target.addr, Messages.CHUNK_ADOPT, { key, meta, leafHashes, name: file.name, take: file.take }, { timeoutMs: PUT_TIMEOUT_MS });
          return;
        } catch (err) {
          local.unstage(file);
          if (isCellError(err, 'TIMEOUT') || isCellError(err, 'STORE_FULL')) throw err;
          log('%s could not adopt chunk %k (%s): sending it', target.addr, key, (err as Error).message);
        }
      }
      await this.endpoint.call(target.addr, Messages.CHUNK_PUT, put, { timeoutMs: PUT_TIMEOUT_MS, encoded });
    };
    let next = 0;
    let acked = 0;
    let failed = 0;
    let resolveQuorum!: (n: number) => void;
    let rejectQuorum!: (e: Error) => void;
    const quorum = new Promise<number>((res, rej) => {
      resolveQuorum = res;
      rejectQuorum = rej;
    });
    quorum.catch(() => {});
    let lastError: unknown;
    const slot = async (): Promise<void> => {
      while (next < order.length) {
        const target = order[next++]!;
        try {
          await send(target);
          acked++;
          if (acked === writeQuorum) resolveQuorum(acked);
          return;
        } catch (err) {
          failed++;
          lastError = err;
          this.noteFailure(target.addr, err);
          log('put %k to %s failed (%s); trying the next cell', key, target.addr, (err as Error).message);
        }
      }
    };
    const settled = Promise.all(Array.from({ length: want }, slot)).then(() => {
      if (acked < writeQuorum) {
        rejectQuorum(
          isCellError(lastError, 'STORE_FULL')
            ? new CellError('STORE_FULL', `the swarm is full: only ${acked} of ${writeQuorum} required copies of a chunk fit`)
            : new CellError('NOT_ENOUGH_CELLS', `only ${acked} of ${writeQuorum} required copies of chunk ${key.slice(0, 12)} were stored: ${failed} attempt(s) failed`),
        );
      }
      return acked;
    });
    return { key, root: leafRootOf(leafHashes), quorum, settled };
  }

  /**
   * Reads a chunk from the first responsive replica in placement order
   * (live storage cells first, then quarantined and dead ones, since a copy
   * may sit anywhere), verifying its hash; a late answer, a timeout or a bad
   * copy has the next asked (see readReplicas). A chunk read from a local cell's file goes into a buffer
   * lent from `pool` if one is given (see BufferPool).
   */
  getChunk(key: ChunkKey, pool?: BufferPool): Promise<Buffer> {
    return this.readReplicas(
      key,
      Messages.CHUNK_GET,
      key,
      (data) => (chunkKeyOf(data) === key ? data : null),
      (local, grant) => local.chunk(grant.chunkDir, key, pool),
    );
  }

  /**
   * Leaves [first, first + count) of a chunk (those that exist), checked
   * against the leaf root its file's chunk map records (see LEAF_BYTES):
   * a random read fetches and hashes tens of KiB instead of the whole chunk.
   */
  getChunkLeaves(key: ChunkKey, root: string, first: number, count: number): Promise<Buffer> {
    return this.readReplicas(
      key,
      Messages.CHUNK_RANGE,
      { key, firstLeaf: first, leafCount: count },
      (a) => {
        if (leafRootOf(a.leafHashes) !== root) return null;
        // Range reads of this chunk from a cell on this machine need no more than these.
        this.local?.learnLeaves(key, root, a.leafHashes);
        return leavesMatch(a.leafHashes, first, count, a.bytes) ? a.bytes : null;
      },
      async (local, grant) => local.leaves(grant, key, root, first, count),
      true,
    );
  }

  /**
   * Leaves of a chunk read at once from a cell on this machine (as
   * getChunkLeaves would), or null when that cannot be done without waiting:
   * no fresh view of the members, no replica here, its leaf hashes not known
   * here yet, or anything missing or wrong. A random reader's usual case is
   * then answered without a promise, a timer or a turn of the event loop,
   * each of which costs a wake-up (docs/decisions/0019-synchronous-now-paths.md).
   */
  chunkLeavesNow(key: ChunkKey, root: string, first: number, count: number): Buffer | null {
    for (const grant of this.rangeGrantsNow(key)) {
      const bytes = this.local!.leaves(grant, key, root, first, count);
      if (bytes) return bytes;
    }
    return null;
  }

  /** Prepares range reads of chunks from cells on this machine, from the cell chunkLeavesNow tries first (LocalCells.warm). */
  warmRanges(chunks: { key: ChunkKey; root: string }[]): void {
    const here = chunks.flatMap(({ key, root }) => {
      const grant = this.rangeGrantsNow(key)[0];
      return grant ? [{ grant, key, root }] : [];
    });
    if (here.length > 0) void this.local!.warm(here);
  }

  /** Grants of the chunk's live replicas on this machine, in the order range reads try them; none without a fresh view. */
  private rangeGrantsNow(key: ChunkKey): LocalGrant[] {
    if (!this.local || !this.watch.isCurrent) return [];
    // Each change to the view is a new array, and grants are looked up again then; a cell shunned changes the order.
    const known = this.rangeGrants.get(key);
    if (known?.view === this.view && this.shunned.size === 0) return known.grants;
    const grants = this.localReplicas(this.shunLast(this.rankedFor(key, this.view).filter(isLiveStorage)), true).map((r) => r.grant);
    this.rangeGrants.set(key, { view: this.view, grants });
    return grants;
  }

  /** True if records for this cell can go straight into its database on this machine (it granted one). */
  recordsHere(cell: MemberView): boolean {
    return !!this.local?.grantOf(cell)?.recordsPath;
  }

  /** Merges records straight into the database of a cell on this machine (LocalCells.mergeRecords): what they replaced, or null if it is not here or that failed. */
  mergeRecordsHere(cell: MemberView, records: RecordEnvelope[]): ReplacedRecord[] | null {
    const grant = this.local?.grantOf(cell);
    return grant ? this.local!.mergeRecords(grant, records) : null;
  }

  /** Records read straight from the database of a cell on this machine (LocalCells.readRecords), or null if it is not here or that failed. */
  readRecordsHere(cell: MemberView, keys: string[]): (RecordEnvelope | null)[] | null {
    const grant = this.local?.grantOf(cell);
    return grant ? this.local!.readRecords(grant, keys) : null;
  }

  /** Every record under a prefix in the database of a cell on this machine (LocalCells.scanRecords), or null as readRecordsHere. */
  scanRecordsHere(cell: MemberView, prefix: string): RecordEnvelope[] | null {
    const grant = this.local?.grantOf(cell);
    return grant ? this.local!.scanRecords(grant, prefix) : null;
  }

  /** Undoes mergeRecordsHere (LocalCells.restoreRecords): false if it cannot be done. */
  restoreRecordsHere(cell: MemberView, undos: ReplacedRecord[]): boolean {
    const grant = this.local?.grantOf(cell);
    return !!grant && this.local!.restoreRecords(grant, undos);
  }

  /**
   * A chunk's storage cells (of any state) in placement order, remembered
   * for the view they were ranked in: a random reader asks for the same
   * chunks again and again, and ranking costs a SHA-256 per cell.
   */
  private rankedFor(key: ChunkKey, view: MemberView[]): MemberView[] {
    let ranking = this.rankings.get(view);
    if (!ranking) {
      const storage = view.filter((m) => m.role === 'storage');
      ranking = { over: storage.map((m) => m.id).join(','), storage, byId: new Map(storage.map((m) => [m.id, m])) };
      this.rankings.set(view, ranking);
    }
    let known = this.readOrders.get(key);
    if (known?.over !== ranking.over) {
      known = { over: ranking.over, order: placementOrder(key, ranking.storage.map((m) => ({ id: m.id, weight: 1 }))) };
      this.readOrders.set(key, known);
    }
    return known.order.map((id) => ranking.byId.get(id)!);
  }

  /**
   * The live replicas of a chunk on this machine that granted local reads,
   * with their grants, in the order a read tries them: placement order; for
   * range reads (`sameLocalCell`), the chunk's R home replicas here by cell
   * id first, so that reads of a file's chunks go to one cell where they
   * can: its directories and inodes stay in the kernel's caches (1,000
   * random reads of a cold 512 MiB file read 354 directory blocks from three
   * cells). Whole chunks go in placement order, over every cell's disk.
   */
  private localReplicas(live: MemberView[], sameLocalCell: boolean): { member: MemberView; grant: LocalGrant }[] {
    const local = this.local;
    if (!local) return [];
    const here = live.flatMap((member) => {
      const grant = local.grantOf(member);
      return grant ? [{ member, grant }] : [];
    });
    if (!sameLocalCell) return here;
    const homes = new Set(live.slice(0, this.placement.replicas));
    const byId = (a: { member: MemberView }, b: { member: MemberView }) => (a.member.id < b.member.id ? -1 : 1);
    return [...here.filter((r) => homes.has(r.member)).sort(byId), ...here.filter((r) => !homes.has(r.member))];
  }

  /**
   * Asks the replicas of a chunk until one answer passes `verify`. Replicas
   * on this machine that granted local reads are read from their files
   * first (`readLocal`, verified too; see localReplicas for their order);
   * then every replica over the network, hedged (hedgedRead): a dead or
   * hung one delays a read by one hedge delay at most, whatever the failure
   * detector thinks of it yet.
   */
  private async readReplicas<Q, A>(
    key: ChunkKey,
    spec: RequestSpec<Q, A>,
    request: Q,
    verify: (answer: A) => Buffer | null,
    readLocal: (local: LocalCells, grant: LocalGrant) => Promise<Buffer | null>,
    sameLocalCell = false,
  ): Promise<Buffer> {
    const ranked = this.rankedFor(key, await this.members());
    // Then quarantined cells (other chunks of theirs were bad, but a copy that passes `verify` is as good as any),
    // then cells believed dead (a view can lag a restart).
    const quarantined = (m: MemberView) => m.state === 'quarantined';
    const live = this.shunLast(ranked.filter(isLiveStorage));
    // Replicas on this machine first: a local read costs no network round trip.
    const local = this.local;
    const here = this.localReplicas(live, sameLocalCell);
    const grants = new Map(here.map((r) => [r.member.id, r.grant]));
    const tries = [
      ...here.map((r) => r.member),
      ...live.filter((m) => !grants.get(m.id)),
      ...ranked.filter(quarantined),
      ...ranked.filter((m) => !isLiveStorage(m) && !quarantined(m)),
    ];
    // Cells that answered that they do not hold it: named when the others could not be asked (an unknown id is not an outage).
    const notHeldBy = new Set<Addr>();
    const ask = async (m: MemberView, opts: CallOptions): Promise<Buffer> => {
      const answer = await this.endpoint.call(m.addr, spec, request, opts).catch((err: unknown) => {
        if (isCellError(err, 'CHUNK_NOT_FOUND')) notHeldBy.add(m.addr);
        if (!opts.signal?.aborted && !isCellError(err, 'CHUNK_NOT_FOUND')) log('get %k from %s failed (%s); trying the next replica', key, m.addr, (err as Error).message);
        throw err;
      });
      const good = verify(answer);
      if (good) return good;
      log('chunk %k from %s failed verification; trying the next replica', key, m.addr);
      throw CellError.HASH_MISMATCH(key);
    };
    for (const { member, grant } of here) {
      // A disk that does not answer is given up on like a cell that does not: the network may reach another copy.
      let timer: TimerHandle | undefined;
      const late = new Promise<null>((resolve) => (timer = this.clock.setTimeout(() => resolve(null), LOCAL_READ_GIVE_UP_MS)));
      const data = await Promise.race([readLocal(local!, grant), late]).finally(() => timer?.clear());
      if (data) return data;
      // Its file failed: that cell is asked for it at once, so a corrupt copy is found (and set aside) by its owner.
      const remote = await ask(member, { timeoutMs: this.hedge.deadlineFor(member.addr) }).catch(() => null);
      if (remote) return remote;
    }
    // Every replica over the network (those here too: their files may have failed), hedged.
    const first = await hedgedRead({ clock: this.clock, policy: this.hedge, health: this, ask }, tries);
    if (first.data) return first.data;
    let lastError = first.lastError;
    // Those that only timed out get one more, patient try: a slow answer beats EIO.
    for (const m of first.timedOut.filter(isLiveStorage)) {
      try {
        return await ask(m, { timeoutMs: GET_LAST_TRY_MS });
      } catch (err) {
        lastError = err;
        this.noteFailure(m.addr, err);
      }
    }
    if (lastError === null || isCellError(lastError, 'CHUNK_NOT_FOUND')) throw CellError.CHUNK_NOT_FOUND(key);
    const notHeld = notHeldBy.size > 0 ? `; ${notHeldBy.size} cell${notHeldBy.size === 1 ? '' : 's'} answered that ${notHeldBy.size === 1 ? 'it does' : 'they do'} not hold it` : '';
    throw Object.assign(new CellError('NO_CELL_REACHABLE', `no replica of chunk ${key.slice(0, 12)} could be read (${(lastError as Error).message}${notHeld})`), {
      notHeldBy: [...notHeldBy],
    });
  }

  /** Forgets the leaf hashes read from cells on this machine (SwarmFs.dropCaches). */
  dropCaches(): void {
    this.local?.dropCaches();
  }

  async close(): Promise<void> {
    await this.watch.close();
    await this.endpoint.stop();
    await this.local?.close();
  }
}

/** The live storage cells of a view, as one comparable string. */
function storageIds(view: MemberView[]): string {
  return view
    .filter(isLiveStorage)
    .map((m) => m.id)
    .sort()
    .join(',');
}
