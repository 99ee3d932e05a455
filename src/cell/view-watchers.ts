import { CellError, assert, logger, type Addr, type CellId, type Clock, type MemberViewConfig, type Rng, type TimerHandle } from '../core/index.js';
import type { Membership } from '../membership/index.js';
import type { Endpoint } from '../rpc/index.js';
import { Messages, listedMemberOf, type ListedMember, type ViewNews, type ViewTable } from '../wire/index.js';
import { Subscriptions } from './subscriptions.js';

export interface ViewWatchersComponents {
  clock: Clock;
  rng: Rng;
  endpoint: Endpoint;
  membership: Membership;
}

export interface ViewWatchersInit {
  config: MemberViewConfig;
  /** This cell's member table as it lists it (what MEMBERS answers). */
  list: () => ListedMember[];
  logPrefix?: string;
}

/** Room left in a news datagram for everything but its members: {"epoch":…,"seq":…,"changed":[],"gone":[],"reset":true} with 16-digit numbers. */
const NEWS_ENVELOPE_BYTES = 128;

interface Watcher {
  addr: Addr;
  leaseUntilMs: number;
}

interface Published {
  entry: ListedMember;
  /** What placement and failover act on: a change here always goes out in the next batch. */
  core: string;
  /** What changes with every write: compared every usageEveryMs, a bounded number at a time. */
  usage: string;
  atMs: number;
}

/**
 * A cell's side of pushed member views (docs/decisions/0035-pushed-member-views.md):
 * clients watch it (VIEW_WATCH, answered with the table as last published),
 * renew a lease (VIEW_RENEW), and get what changes as numbered VIEW_NEWS
 * notices. Membership events are batched for batchMs; usage is compared every
 * usageEveryMs, at most usageEntriesMax members at a time. Bounded: watchers
 * (BUSY beyond watchersMax), each one's lease, and each batch (beyond
 * newsEntriesMax changes a watcher is told to fetch the table again).
 */
export class ViewWatchers {
  private readonly watchers = new Map<CellId, Watcher>();
  /** Every member as last published: what a new watcher is given, and what news is a change from. */
  private readonly published = new Map<CellId, Published>();
  /** Members an event named since the last batch. */
  private readonly dirty = new Set<CellId>();
  private readonly epoch: number;
  private seq = 0;
  private batch: TimerHandle | null = null;
  private usageTimer: TimerHandle | null = null;
  private readonly subscriptions = new Subscriptions();
  private readonly log;
  /** Watches refused because the table was full. */
  refused = 0;

  constructor(private readonly components: ViewWatchersComponents, private readonly init: ViewWatchersInit) {
    this.log = logger('cell:views', init.logPrefix);
    // A restarted cell numbers its news from 1 again: a new epoch keeps watchers from taking them for the old stream's.
    this.epoch = components.rng.int(0x7fffffff) * 0x10000 + components.rng.int(0x10000);
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** The addresses of the clients whose lease is current (mounts, top, a put...): at most watchersMax. */
  clientAddrs(): Addr[] {
    this.expire();
    return [...this.watchers.values()].map((w) => w.addr);
  }

  start(): void {
    if (this.usageTimer) return;
    const { clock, endpoint, membership } = this.components;
    const now = clock.now();
    for (const m of this.init.list()) this.published.set(m.id, publishedOf(m, now));
    const served = this.subscriptions.on(endpoint);
    served.serve(Messages.VIEW_WATCH, (_q, incoming) => this.watch(incoming.sender, incoming.from));
    served.serve(Messages.VIEW_RENEW, (r, incoming) => {
      this.expire();
      const w = this.watchers.get(incoming.sender);
      if (!w || r.epoch !== this.epoch) return { seq: this.seq, watching: false };
      if (r.leave) {
        this.watchers.delete(incoming.sender);
        return { seq: this.seq, watching: false };
      }
      w.leaseUntilMs = clock.now() + this.init.config.leaseMs;
      w.addr = incoming.from;
      return { seq: this.seq, watching: true };
    });
    // Any event, of a type known here or not: what is pushed is the member's state after it.
    this.subscriptions.add(membership.onEvent((e) => this.touch(e.member.id)));
    this.usageTimer = clock.setInterval(() => {
      this.expire();
      this.publish('usage');
    }, this.init.config.usageEveryMs);
  }

  stop(): void {
    this.subscriptions.clear();
    this.usageTimer?.clear();
    this.usageTimer = null;
    this.batch?.clear();
    this.batch = null;
    this.watchers.clear();
  }

  /** Marks a member changed (an event, or this cell's own new role): it goes out with the next batch. */
  touch(id: CellId): void {
    if (!this.usageTimer) return;
    this.dirty.add(id);
    this.batch ??= this.components.clock.setTimeout(() => {
      this.batch = null;
      this.publish('events');
    }, this.init.config.batchMs);
  }

  private watch(sender: CellId, from: Addr): ViewTable {
    const { leaseMs, watchersMax } = this.init.config;
    this.expire();
    if (!this.watchers.has(sender) && this.watchers.size >= watchersMax) {
      this.refused++;
      throw CellError.BUSY(`${watchersMax} watchers already`);
    }
    // Members learned without an event (joined through another's list, found dead) are in the table it is given.
    this.publish('members');
    this.watchers.set(sender, { addr: from, leaseUntilMs: this.components.clock.now() + leaseMs });
    return { epoch: this.epoch, seq: this.seq, leaseMs, members: [...this.published.values()].map((p) => p.entry) };
  }

  private expire(): void {
    const now = this.components.clock.now();
    for (const [id, w] of this.watchers) {
      if (w.leaseUntilMs > now) continue;
      this.watchers.delete(id);
      this.log('lease of watcher %k at %s lapsed', id, w.addr);
    }
  }

  /**
   * Compares the table with what was last published and sends the
   * difference: 'events', the members events named (all of their fields);
   * 'members', every member's state, role and address, and members come or
   * gone; 'usage', that and usage changes too, at most usageEntriesMax at a
   * time, the longest unpublished first.
   */
  private publish(what: 'events' | 'members' | 'usage'): void {
    const { usageEntriesMax, newsEntriesMax } = this.init.config;
    const now = this.components.clock.now();
    const current = this.init.list();
    const changed: ListedMember[] = [];
    const gone: CellId[] = [];
    const usage: { m: ListedMember; atMs: number }[] = [];
    const byId = new Map(current.map((m) => [m.id, m]));
    const withUsage = what === 'usage';
    const ids = what === 'events' ? this.dirty : new Set([...byId.keys(), ...this.published.keys()]);
    for (const id of ids) {
      const m = byId.get(id);
      const p = this.published.get(id);
      if (!m) {
        if (p) gone.push(id);
      } else if (!p || p.core !== coreOf(m) || (what === 'events' && p.usage !== usageOf(m))) {
        changed.push(m);
      } else if (withUsage && p.usage !== usageOf(m)) {
        usage.push({ m, atMs: p.atMs });
      }
    }
    if (what === 'events') this.dirty.clear();
    usage.sort((a, b) => a.atMs - b.atMs);
    changed.push(...usage.slice(0, usageEntriesMax).map((u) => u.m));
    if (changed.length + gone.length === 0) return;
    for (const m of changed) this.published.set(m.id, publishedOf(m, now));
    for (const id of gone) this.published.delete(id);
    if (changed.length + gone.length > newsEntriesMax) this.send({ changed: [], gone: [], reset: true });
    else for (const news of this.split(changed, gone)) this.send(news);
  }

  /** The changes as news bodies that each fit one datagram. */
  private split(changed: ListedMember[], gone: CellId[]): Pick<ViewNews, 'changed' | 'gone' | 'reset'>[] {
    const budget = this.components.endpoint.singleBodyBytesMax - NEWS_ENVELOPE_BYTES;
    const out: Pick<ViewNews, 'changed' | 'gone' | 'reset'>[] = [];
    let cur: Pick<ViewNews, 'changed' | 'gone' | 'reset'> = { changed: [], gone: [], reset: false };
    let bytes = 0;
    const room = (n: number) => {
      assert(n <= budget, `a member entry of ${n} bytes does not fit a news datagram`);
      if (bytes + n > budget) {
        out.push(cur);
        cur = { changed: [], gone: [], reset: false };
        bytes = 0;
      }
      bytes += n;
    };
    for (const m of changed) {
      room(Buffer.byteLength(JSON.stringify(listedMemberOf(m))) + 1);
      cur.changed.push(m);
    }
    for (const id of gone) {
      room(id.length + 3);
      cur.gone.push(id);
    }
    out.push(cur);
    return out;
  }

  /** Numbers one news body and sends it to every watcher (encoded once). */
  private send(body: Pick<ViewNews, 'changed' | 'gone' | 'reset'>): void {
    this.seq++;
    this.expire();
    if (this.watchers.size === 0) return;
    const to = [...this.watchers.values()].map((w) => w.addr);
    this.components.endpoint.notice(to, Messages.VIEW_NEWS, { epoch: this.epoch, seq: this.seq, ...body });
  }
}

function coreOf(m: ListedMember): string {
  return `${m.state}|${m.role}|${m.incarnation}|${m.addr}|${m.pid}`;
}

function usageOf(m: ListedMember): string {
  return `${m.chunks}|${m.bytes}|${m.capacityBytes}|${m.intent ?? ''}|${m.intentAtMs ?? 0}`;
}

function publishedOf(m: ListedMember, atMs: number): Published {
  return { entry: m, core: coreOf(m), usage: usageOf(m), atMs };
}
