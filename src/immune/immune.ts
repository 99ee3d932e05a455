import { LRUCache } from 'lru-cache';
import {
  TokenBucket,
  chunkKeyOf,
  isCellError,
  logger,
  type CellId,
  type ChunkKey,
  type Clock,
  type ImmuneConfig,
  type Rng,
  type TimerHandle,
  type Unsubscribe,
} from '../core/index.js';
import type { Member, Membership } from '../membership/index.js';
import type { Endpoint } from '../rpc/index.js';
import type { ChunkStore, CorruptionReport } from '../store/index.js';
import { LIST_LIMIT_MAX, Messages, type Alert, type Confirmation } from '../wire/index.js';

/** Alerts and their confirmations travel as the wire defines them (wire/messages/alert.ts). */
export type { Alert, Confirmation };

export interface ImmuneComponents {
  clock: Clock;
  rng: Rng;
  endpoint: Endpoint;
  store: ChunkStore;
  membership: Membership;
}

export interface ImmuneInit {
  config: ImmuneConfig;
  onEvent: (type: string, cellId: CellId, detail: string) => void;
  /** A corruption was confirmed: time to replace the bad copy (healing). */
  onConfirmed: (c: Confirmation) => void;
  /** This cell has been quarantined: remember it so that it scrubs itself on its next start. */
  onSelfQuarantined: () => void;
  logPrefix?: string;
}

export interface ScrubStats {
  passes: number;
  chunks: number;
  bytes: number;
  alertsRaised: number;
  confirmed: number;
  rejected: number;
  /** Progress of the current pass, 0..1. */
  passProgress: number;
}

const CONFIRMERS_MAX = 2;
const REQUEST_TIMEOUT_MS = 2_000;
/** An alert no confirmer took (none alive, or killed meanwhile) is offered again this often, to whoever is alive then... */
const ALERT_RETRY_MS = 3_000;
/** ...this many times in all. */
const ALERT_TRIES = 4;

/**
 * The immune system, in every cell. Guards scrub storage cells at a bounded
 * rate; a mismatch (or a cell reporting its own corruption) becomes an ALERT
 * with its evidence, sent to a second guard, or with one guard to the cells
 * holding other copies. They confirm by fetching the chunk from the accused
 * themselves; only a confirmation counts, so one faulty guard cannot expel a
 * healthy cell. Every member counts confirmed corruptions per cell and
 * quarantines a cell at the threshold.
 */
export class Immune {
  readonly stats: ScrubStats = { passes: 0, chunks: 0, bytes: 0, alertsRaised: 0, confirmed: 0, rejected: 0, passProgress: 0 };
  private readonly log;
  private readonly bucket: TokenBucket;
  /** Pending timers; each removes itself when it fires. */
  private readonly timers = new Set<TimerHandle>();
  /** The endpoint's and the store's handlers given by start(), removed by stop(). */
  private readonly subscriptions: Unsubscribe[] = [];
  /** Confirmed corrupt keys per accused cell (bounded). */
  private readonly confirmedKeys = new LRUCache<CellId, Set<ChunkKey>>({ max: 1024 });
  /** Alerts checked recently, so repeats are not fetched again. */
  private readonly checked = new LRUCache<string, boolean>({ max: 4096, ttl: 60_000 });
  private scrubbing: Promise<void> | null = null;
  private stopped = true;

  constructor(private readonly components: ImmuneComponents, private readonly init: ImmuneInit) {
    this.log = logger('immune', init.logPrefix);
    this.bucket = new TokenBucket(components.clock, init.config.scrubBytesPerSec);
  }

  private get self(): Member {
    return this.components.membership.members()[0]!;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const { endpoint, store, clock, rng } = this.components;
    this.subscriptions.push(
      endpoint.serve(Messages.ALERT, (alert) => void this.confirm(alert)),
      endpoint.onNotice(Messages.CONFIRMED, (c) => this.onConfirmation(c)),
      store.onCorruption(this.onOwnCorruption),
      // A cell back with a new incarnation (rehabilitated) starts with a clean record: what got it quarantined
      // was scrubbed away, and must not make its next single corruption a quarantine again.
      this.components.membership.onEvent((e) => {
        if (e.type === 'quarantine-lifted') this.confirmedKeys.delete(e.member.id);
      }),
    );
    const period = this.init.config.scrubPeriodMs;
    this.later(() => this.scrubLoop(), rng.int(Math.min(period, 2_000)));
    if (this.init.config.testFalseAlertMs > 0) {
      this.timers.add(clock.setInterval(() => void this.falseAlert(), this.init.config.testFalseAlertMs));
    }
  }

  /** A storage cell that finds corruption on its own disk says so. */
  private readonly onOwnCorruption = (r: CorruptionReport): void => {
    void this.raise({ accused: this.self.id, key: r.key, digestSeen: r.digestSeen, reporter: this.self.id });
  };

  private later(fn: () => void, ms: number): void {
    const timer = this.components.clock.setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  /** Undoes start(): handlers and listeners removed, timers cleared; waits for a running scrub pass to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const unsubscribe of this.subscriptions.splice(0)) unsubscribe();
    for (const t of this.timers) t.clear();
    this.timers.clear();
    await this.scrubbing?.catch(() => {});
  }

  // ---- scrubbing (guards) ----

  private scrubLoop(): void {
    if (this.stopped) return;
    const started = this.components.clock.now();
    this.scrubbing = (this.self.role === 'guard' ? this.scrubPass() : Promise.resolve())
      .catch((err: Error) => this.log('scrub pass failed: %s', err.message))
      .finally(() => {
        this.scrubbing = null;
        const elapsed = this.components.clock.now() - started;
        if (!this.stopped) this.later(() => this.scrubLoop(), Math.max(1_000, this.init.config.scrubPeriodMs - elapsed));
      });
  }

  private storageCells(): Member[] {
    return this.components.membership.members().filter((m) => m.role === 'storage' && m.state === 'alive');
  }

  /** One pass: every chunk of every live storage cell, fetched from that cell and re-hashed, at the scrub rate. */
  private async scrubPass(): Promise<void> {
    const cells = this.storageCells();
    this.stats.passProgress = 0;
    for (const [i, cell] of cells.entries()) {
      let after: ChunkKey | null = null;
      for (;;) {
        if (this.stopped || this.self.role !== 'guard') return;
        const page = await this.list(cell, after);
        if (!page) break;
        for (const key of page) {
          if (this.stopped) return;
          await this.scrubOne(cell, key);
        }
        if (page.length < LIST_LIMIT_MAX) break;
        after = page[page.length - 1]!;
      }
      this.stats.passProgress = (i + 1) / cells.length;
    }
    this.stats.passes++;
    this.init.onEvent('scrub-pass-finished', this.self.id, `${cells.length} cells, ${this.stats.chunks} chunks checked in all`);
  }

  private async list(cell: Member, after: ChunkKey | null): Promise<ChunkKey[] | null> {
    try {
      const page = await this.components.endpoint.call(cell.addr, Messages.CHUNK_LIST, { after, limit: LIST_LIMIT_MAX }, { timeoutMs: REQUEST_TIMEOUT_MS });
      return page.map((e) => e.key);
    } catch {
      return null;
    }
  }

  private async scrubOne(cell: Member, key: ChunkKey): Promise<void> {
    const verdict = await this.fetchVerdict(cell, key);
    if (verdict.kind === 'unreachable' || verdict.kind === 'absent') return;
    await this.bucket.take(verdict.bytes);
    this.stats.chunks++;
    this.stats.bytes += verdict.bytes;
    if (verdict.kind === 'bad') {
      this.init.onEvent('corruption-detected', cell.id, `chunk ${key.slice(0, 12)} on ${cell.addr}: ${verdict.digestSeen.slice(0, 12)}`);
      await this.raise({ accused: cell.id, key, digestSeen: verdict.digestSeen, reporter: this.self.id });
    }
  }

  /** Fetches a chunk from one cell and judges it. */
  private async fetchVerdict(
    cell: Member,
    key: ChunkKey,
  ): Promise<{ kind: 'good'; bytes: number } | { kind: 'bad'; bytes: number; digestSeen: string } | { kind: 'absent' } | { kind: 'unreachable' }> {
    try {
      const data = await this.components.endpoint.call(cell.addr, Messages.CHUNK_PROBE, key, { timeoutMs: REQUEST_TIMEOUT_MS });
      const digest = chunkKeyOf(data);
      return digest === key ? { kind: 'good', bytes: data.length } : { kind: 'bad', bytes: data.length, digestSeen: digest };
    } catch (err) {
      if (isCellError(err, 'CHUNK_CORRUPT')) return { kind: 'bad', bytes: 0, digestSeen: 'corrupt' };
      if (isCellError(err, 'CHUNK_NOT_FOUND')) return { kind: 'absent' };
      return { kind: 'unreachable' };
    }
  }

  // ---- alerts ----

  /**
   * Sends an alert to those who can confirm it: another guard, or else the
   * holders of other copies. If none takes it, it is sent again later.
   */
  private async raise(alert: Alert, tries = 1): Promise<void> {
    const { membership, endpoint } = this.components;
    const others = membership.members().filter((m) => m.state === 'alive' && m.id !== alert.accused && m.id !== alert.reporter);
    let confirmers = others.filter((m) => m.role === 'guard');
    if (confirmers.length === 0) {
      const holders = await Promise.all(
        others
          .filter((m) => m.role === 'storage')
          .map(async (m) => {
            try {
              const [held] = await endpoint.call(m.addr, Messages.CHUNK_HAS, [alert.key], { timeoutMs: REQUEST_TIMEOUT_MS });
              return held ? m : null;
            } catch {
              return null;
            }
          }),
      );
      confirmers = holders.filter((m): m is Member => m !== null);
    }
    confirmers = confirmers.slice(0, CONFIRMERS_MAX);
    if (tries === 1) this.stats.alertsRaised++;
    const again = tries > 1 ? ` (try ${tries} of ${ALERT_TRIES})` : '';
    this.init.onEvent('alert-raised', alert.accused, `chunk ${alert.key.slice(0, 12)} by ${alert.reporter.slice(0, 8)}, to ${confirmers.length} confirmer(s)${again}`);
    const taken = await Promise.all(
      confirmers.map((m) => endpoint.call(m.addr, Messages.ALERT, alert, { timeoutMs: REQUEST_TIMEOUT_MS }).then(() => true, () => false)),
    );
    if (!taken.includes(true) && tries < ALERT_TRIES && !this.stopped) this.later(() => void this.raise(alert, tries + 1), ALERT_RETRY_MS);
  }

  /** Checks an alert against the accused itself; only what we see with our own request counts. */
  private async confirm(alert: Alert): Promise<void> {
    const id = `${alert.accused}|${alert.key}`;
    if (this.checked.has(id)) return;
    this.checked.set(id, true);
    const accused = this.components.membership.get(alert.accused);
    if (!accused || accused.id === this.self.id) return;
    const verdict = await this.fetchVerdict(accused, alert.key);
    if (verdict.kind !== 'bad') {
      this.stats.rejected++;
      this.init.onEvent('alert-rejected', alert.accused, `chunk ${alert.key.slice(0, 12)} from ${alert.reporter.slice(0, 8)}: the accused's copy is ${verdict.kind}`);
      return;
    }
    const c: Confirmation = { ...alert, digestSeen: verdict.digestSeen, confirmer: this.self.id };
    const others = this.components.membership.members().filter((m) => m.id !== this.self.id && m.state !== 'dead');
    this.components.endpoint.notice(others.map((m) => m.addr), Messages.CONFIRMED, c);
    this.onConfirmation(c);
  }

  private onConfirmation(c: Confirmation): void {
    const { membership } = this.components;
    let keys = this.confirmedKeys.get(c.accused);
    if (!keys) {
      keys = new Set();
      this.confirmedKeys.set(c.accused, keys);
    }
    if (keys.has(c.key)) return;
    keys.add(c.key);
    this.stats.confirmed++;
    this.init.onEvent('alert-confirmed', c.accused, `chunk ${c.key.slice(0, 12)}: reported by ${c.reporter.slice(0, 8)}, confirmed by ${c.confirmer.slice(0, 8)} (${keys.size}/${this.init.config.quarantineAfter})`);
    this.init.onConfirmed(c);
    if (keys.size < this.init.config.quarantineAfter) return;
    if (c.accused === this.self.id) {
      this.init.onSelfQuarantined();
      return;
    }
    const accused = membership.get(c.accused);
    if (accused && accused.state !== 'quarantined') membership.quarantine(accused.id, accused.incarnation);
  }

  /** Test hook: accuse a healthy storage cell of a chunk it holds, with made-up evidence. */
  private async falseAlert(): Promise<void> {
    if (this.self.role !== 'guard') return;
    const cells = this.storageCells();
    if (cells.length === 0) return;
    const victim = cells[this.components.rng.int(cells.length)]!;
    const keys = await this.list(victim, null);
    if (!keys || keys.length === 0) return;
    const key = keys[this.components.rng.int(keys.length)]!;
    this.log('test hook: false alert against %s', victim.addr);
    await this.raise({ accused: victim.id, key, digestSeen: '0'.repeat(64), reporter: this.self.id });
  }
}
