import { CellError, logger, type Addr, type CellId, type Clock, type MemberViewConfig, type Rng, type TimerHandle, type Unsubscribe } from '../core/index.js';
import type { Endpoint } from '../rpc/index.js';
import { Messages, type ListedMember, type ViewNews, type ViewTable } from '../wire/index.js';
import { noCellAnswered } from './no-answer.js';

const log = logger('client:view');

/** Without a watch (older cells, or every cell asked refused us), the table asked for is reused this long (ms): the poll of old. */
export const POLL_TTL_MS = 1_000;
/** Cells asked in turn for a watch before falling back to asking for the table: a few dead cells in a view cost a second each. */
const WATCH_TRIES_MAX = 5;
/** Cells asked at once for the whole table (members(true), or the fallback): the first answer wins, the rest are wasted. */
const TABLE_FANOUT_MAX = 3;
/** News that overtook an earlier one waits this long for it (ms) before the gap counts as a loss: datagrams sent together may arrive out of order. */
const REORDER_WAIT_MS = 50;
/** News held while an earlier one is missing; more is a loss. */
const REORDER_NEWS_MAX = 32;
/** A closing client waits this long for its cell to hear it leave (ms); silence costs the cell only a lease. */
const LEAVE_TIMEOUT_MS = 200;

export interface MemberWatchComponents {
  endpoint: Endpoint;
  clock: Clock;
  rng: Rng;
}

export interface MemberWatchInit {
  config: MemberViewConfig;
  /** Cells to ask first, before any table is known. */
  seeds: Addr[];
  /** Called with each new table (a new array each time: callers may cache by it). */
  onChange: (view: ListedMember[]) => void;
}

interface Watched {
  addr: Addr;
  epoch: number;
  /** The last news applied. */
  seq: number;
}

/**
 * A client's member view kept current by one cell
 * (docs/decisions/0035-pushed-member-views.md): it watches a cell chosen at
 * random, applies that cell's numbered news, renews its lease every
 * renewEveryMs, watches again (the whole table) on a gap, a reset or a lease
 * the cell forgot, and moves to another live cell at once when the watched
 * one fails it. Cells that do not serve watches are asked for the table as
 * before, at most once a POLL_TTL_MS.
 */
export class MemberWatch {
  private byId = new Map<CellId, ListedMember>();
  private table: ListedMember[] = [];
  private watched: Watched | null = null;
  private rewatching: Promise<void> | null = null;
  private polledAtMs = -Infinity;
  private renewTimer: TimerHandle | null = null;
  /** News that arrived before an earlier one, by number, and when the wait for that one ends. */
  private readonly early = new Map<number, ViewNews>();
  private reorderTimer: TimerHandle | null = null;
  private readonly unsubscribe: Unsubscribe;
  private closed = false;
  /** Tables fetched whole (watches and asks) and news applied, for tests and the bench. */
  readonly stats = { tables: 0, news: 0, gaps: 0, resets: 0, forgotten: 0, switches: 0, stale: 0 };

  constructor(private readonly components: MemberWatchComponents, private readonly init: MemberWatchInit) {
    this.unsubscribe = components.endpoint.onNotice(Messages.VIEW_NEWS, (news, incoming) => this.onNews(news, incoming.from));
  }

  /** The cell watched now, if any. */
  get watchedAddr(): Addr | null {
    return this.watched?.addr ?? null;
  }

  /** True while the view is kept current: watched (or being watched again), or asked for within POLL_TTL_MS. */
  get isCurrent(): boolean {
    if (this.table.length === 0) return false;
    return this.watched !== null || this.rewatching !== null || this.components.clock.now() - this.polledAtMs < POLL_TTL_MS;
  }

  /** The current view; the whole table asked for when `fresh`, or when the view is not current. */
  async members(fresh: boolean): Promise<ListedMember[]> {
    if (fresh) await this.fetchFresh();
    else if (!this.isCurrent) await this.rewatch(null, null);
    return this.table;
  }

  /** A request to `addr` timed out: if it is the watched cell, watch another at once. */
  noteTimeout(addr: Addr): void {
    if (this.watched?.addr === addr) this.switchFrom(addr);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.renewTimer?.clear();
    this.clearEarly();
    this.unsubscribe();
    const w = this.watched;
    this.watched = null;
    if (w) {
      await this.components.endpoint.call(w.addr, Messages.VIEW_RENEW, { epoch: w.epoch, leave: true }, { timeoutMs: LEAVE_TIMEOUT_MS }).catch(() => undefined);
    }
  }

  private switchFrom(addr: Addr): void {
    this.stats.switches++;
    log('watched cell %s failed us: watching another', addr);
    this.clearEarly();
    this.watched = null;
    void this.rewatch(null, addr).catch((err: Error) => log('no cell to watch: %s', err.message));
  }

  /** Live cells of the view (without `avoid`), shuffled, then the seeds not among them. */
  private candidates(avoid: Addr | null): Addr[] {
    const live = this.table.filter((m) => m.state === 'alive' && m.addr !== avoid).map((m) => m.addr);
    const { rng } = this.components;
    for (let i = live.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [live[i], live[j]] = [live[j]!, live[i]!];
    }
    const known = new Set(live);
    return [...live, ...this.init.seeds.filter((s) => !known.has(s) && s !== avoid)];
  }

  /** Watches a cell again (one attempt at a time): `prefer` first (the same cell after a gap), never `avoid` (a cell that failed us). */
  private rewatch(prefer: Addr | null, avoid: Addr | null): Promise<void> {
    this.rewatching ??= this.watchSome(prefer, avoid).finally(() => (this.rewatching = null));
    return this.rewatching;
  }

  private async watchSome(prefer: Addr | null, avoid: Addr | null): Promise<void> {
    const { endpoint, clock } = this.components;
    const candidates = this.candidates(avoid).filter((a) => a !== prefer);
    if (prefer) candidates.unshift(prefer);
    if (candidates.length === 0) throw new CellError('NO_CELL_REACHABLE', 'no cells are known: start a swarm first');
    for (const addr of candidates.slice(0, WATCH_TRIES_MAX)) {
      if (this.closed) return;
      try {
        const t = await endpoint.call(addr, Messages.VIEW_WATCH, undefined, { timeoutMs: this.init.config.requestTimeoutMs });
        if (this.closed) return;
        this.adopt(addr, t);
        return;
      } catch (err) {
        // BUSY (its watchers are many), an older cell (BAD_REQUEST), or silence: the next one.
        log('%s did not take a watch (%s)', addr, (err as Error).message);
      }
    }
    // None took it: the table asked for as before; the next members() after POLL_TTL_MS tries watching again.
    await this.fetchTable(candidates);
    this.polledAtMs = clock.now();
  }

  private adopt(addr: Addr, t: ViewTable): void {
    this.watched = { addr, epoch: t.epoch, seq: t.seq };
    this.replace(t.members);
    this.renewTimer ??= this.components.clock.setInterval(() => void this.renew(), this.init.config.renewEveryMs);
    log('watching %s (%d members, news %d)', addr, t.members.length, t.seq);
  }

  /** The whole table from the watched cell, or if it does not answer, from others (and the watch moves on). */
  private async fetchFresh(): Promise<void> {
    const w = this.watched;
    if (w) {
      try {
        return await this.fetchTable([w.addr]);
      } catch {
        if (this.watched === w) this.switchFrom(w.addr);
      }
    }
    await this.fetchTable(this.candidates(w?.addr ?? null));
  }

  /**
   * The whole table from the first of a few cells to answer; if none does
   * (the view is stale: those cells died), from whichever of all the others
   * answers first.
   */
  private async fetchTable(addrs: Addr[]): Promise<void> {
    if (addrs.length === 0) throw new CellError('NO_CELL_REACHABLE', 'no cells are known: start a swarm first');
    const ask = (batch: Addr[]) =>
      Promise.any(batch.map((a) => this.components.endpoint.call(a, Messages.MEMBERS, undefined, { timeoutMs: this.init.config.requestTimeoutMs })));
    for (const batch of [addrs.slice(0, TABLE_FANOUT_MAX), addrs.slice(TABLE_FANOUT_MAX)]) {
      if (batch.length === 0) continue;
      try {
        return this.replace(await ask(batch));
      } catch {
        // the next batch
      }
    }
    const more = addrs.length > TABLE_FANOUT_MAX ? ` and ${addrs.length - TABLE_FANOUT_MAX} more` : '';
    throw noCellAnswered(this.components.endpoint, addrs, `${addrs.slice(0, TABLE_FANOUT_MAX).join(', ')}${more}`);
  }

  private async renew(): Promise<void> {
    const w = this.watched;
    if (!w || this.rewatching) return;
    try {
      const r = await this.components.endpoint.call(w.addr, Messages.VIEW_RENEW, { epoch: w.epoch, leave: false }, { timeoutMs: this.init.config.requestTimeoutMs });
      if (this.watched !== w) return;
      // Forgotten (lease lapsed, cell restarted), or news we never got (the last of a batch lost): the table again, from the same cell.
      if (!r.watching) {
        this.stats.forgotten++;
        this.refetch(w);
      }
      else if (r.seq > w.seq && this.early.size === 0) this.lost(w);
    } catch {
      if (this.watched === w) this.switchFrom(w.addr);
    }
  }

  private onNews(news: ViewNews, from: Addr): void {
    const w = this.watched;
    if (!w || from !== w.addr || news.epoch !== w.epoch || news.seq <= w.seq || this.early.has(news.seq)) {
      this.stats.stale++;
      return;
    }
    this.early.set(news.seq, news);
    for (let next = this.early.get(w.seq + 1); next && this.watched === w; next = this.early.get(w.seq + 1)) {
      this.early.delete(next.seq);
      this.apply(w, next);
    }
    if (this.watched !== w || this.early.size === 0) {
      this.clearEarly();
    } else if (this.early.size > REORDER_NEWS_MAX) {
      this.lost(w);
    } else {
      this.reorderTimer ??= this.components.clock.setTimeout(() => {
        this.reorderTimer = null;
        if (this.watched === w && this.early.size > 0) this.lost(w);
      }, REORDER_WAIT_MS);
    }
  }

  /** A notice did not come: the whole table, from the same cell. */
  private lost(w: Watched): void {
    this.stats.gaps++;
    this.refetch(w);
  }

  private refetch(w: Watched): void {
    this.clearEarly();
    this.watched = null;
    void this.rewatch(w.addr, null).catch((err: Error) => log('watching again failed: %s', err.message));
  }

  private clearEarly(): void {
    this.early.clear();
    this.reorderTimer?.clear();
    this.reorderTimer = null;
  }

  private apply(w: Watched, news: ViewNews): void {
    w.seq = news.seq;
    // More changed than news carries: the whole table.
    if (news.reset) {
      this.stats.resets++;
      return this.refetch(w);
    }
    this.stats.news++;
    for (const m of news.changed) this.byId.set(m.id, m);
    for (const id of news.gone) this.byId.delete(id);
    this.publish();
    // A watched cell that says it is no longer alive (quarantined, leaving) is no source of news: another one.
    const self = news.changed.find((m) => m.addr === w.addr);
    if (self && self.state !== 'alive') this.switchFrom(w.addr);
  }

  private replace(members: ListedMember[]): void {
    this.stats.tables++;
    this.byId = new Map(members.map((m) => [m.id, m]));
    this.publish();
  }

  private publish(): void {
    this.table = [...this.byId.values()];
    this.init.onChange(this.table);
  }
}
