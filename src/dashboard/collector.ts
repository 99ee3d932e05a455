import { LRUCache } from 'lru-cache';
import type { CellStatus, SwarmClient, FsckReport } from '../client/index.js';
import { fsck } from '../client/index.js';
import type { SwarmEvent } from '../core/index.js';
import { RepairBacklog, type BacklogView } from './backlog.js';

/** What one cell says about itself and the swarm: its STATUS answer. */
export type CellReport = CellStatus;

export interface SwarmSnapshot {
  /** When the data shown was gathered (wall ms): the poll's start. */
  atMs: number;
  /** The member table as the best-informed answering cell sees it. */
  members: CellReport['members'];
  /** Each answering cell's own report, by id (empty: no cell answered this poll). */
  reports: Map<string, CellReport>;
  /** The last health check (fsck) that finished, and when it started (wall ms; 0 = none yet). */
  health: FsckReport | null;
  healthAtMs: number;
  /** The repair backlog over recent health checks (null until the first). */
  backlog: BacklogView | null;
  /** Bytes per second pushed by repairs since the previous snapshot. */
  repairBytesPerSec: number;
}

/** Events remembered for de-duplication across polls. */
const SEEN_EVENTS_MAX = 20_000;
/** A health check (fsck: every storage cell lists its chunks) at most this often (ms); it runs beside the polls, never in them. */
const HEALTH_EVERY_MS = 5_000;
/** Observations of one membership change by different cells within this window count once. */
const OBSERVED_WINDOW_MS = 15_000;
/**
 * Each cell's STATUS must answer within this (ms), and a poll ends by then
 * whatever is pending: a hung cell or a lost answer costs one poll's row, never
 * the screen (top redraws every second).
 */
export const POLL_TIMEOUT_MS = 800;

/**
 * Polls every known cell over the wire (STATUS), merges what they say, and
 * hands out each swarm event once. Nothing is read from the cells' files.
 * The health check runs in the background, one at a time, so a slow one
 * never holds the polls up; the snapshot says how old it is.
 */
export class SwarmCollector {
  private readonly seen = new LRUCache<string, true>({ max: SEEN_EVENTS_MAX });
  private readonly addrs = new Set<string>();
  private lastPushed = new Map<string, number>();
  private lastAtMs = 0;
  private health: FsckReport | null = null;
  private healthAtMs = 0;
  private healthStartedAtMs = 0;
  private healthRunning = false;
  private readonly backlog = new RepairBacklog();
  /** Every event seen, oldest first (bounded: the oldest are dropped past SEEN_EVENTS_MAX). */
  readonly seenEvents: SwarmEvent[] = [];
  /** Highest pushed count per cell incarnation: counters reset when a cell restarts. */
  readonly pushedByIncarnation = new Map<string, number>();

  constructor(private readonly client: SwarmClient, private readonly seeds: string[], private readonly withHealth = true) {
    seeds.forEach((a) => this.addrs.add(a));
  }

  async poll(): Promise<{ snapshot: SwarmSnapshot; events: SwarmEvent[] }> {
    const now = Date.now();
    const answers = await withinDeadline(
      [...this.addrs].map((a) => this.client.status([a], POLL_TIMEOUT_MS)),
      POLL_TIMEOUT_MS,
    );
    const reports = new Map<string, CellReport>();
    for (const r of answers) if (r) reports.set(r.id, r);
    // Asked next time: the seeds and every member an answering cell lists (not every address ever seen: a cell restarted on a new port is asked at its new one only).
    if (reports.size > 0) {
      this.addrs.clear();
      this.seeds.forEach((a) => this.addrs.add(a));
      for (const r of reports.values()) for (const m of r.members) this.addrs.add(m.addr);
    }
    // The view with the most members heard most recently is the best one to show.
    const best = [...reports.values()].sort((a, b) => b.members.length - a.members.length)[0];
    const events: SwarmEvent[] = [];
    for (const r of reports.values()) {
      for (const e of r.events) {
        // What every member observes (a death, a quarantine) is one event, not one per observer.
        const observed = /^(member-|quarantine-)/.test(e.type);
        const key = observed
          ? `${e.type}|${e.cellId}|${Math.floor(e.atMs / OBSERVED_WINDOW_MS)}`
          : e.type === 'alert-confirmed'
            ? `${e.type}|${e.cellId}|${(e.detail ?? '').split(' (')[0]}` // every member records each confirmation
            : `${e.atMs}|${e.type}|${e.cellId}|${e.detail}|${r.id}`;
        if (this.seen.has(key)) continue;
        this.seen.set(key, true);
        events.push(e);
      }
    }
    events.sort((a, b) => a.atMs - b.atMs);
    this.seenEvents.push(...events);
    if (this.seenEvents.length > SEEN_EVENTS_MAX) this.seenEvents.splice(0, this.seenEvents.length - SEEN_EVENTS_MAX);
    let pushedDelta = 0;
    const pushedNow = new Map<string, number>();
    for (const r of reports.values()) {
      const inc = `${r.id}|${r.incarnation}`;
      pushedNow.set(inc, r.heal.pushedBytes);
      pushedDelta += Math.max(0, r.heal.pushedBytes - (this.lastPushed.get(inc) ?? r.heal.pushedBytes));
      this.pushedByIncarnation.set(inc, Math.max(this.pushedByIncarnation.get(inc) ?? 0, r.heal.pushed));
    }
    const elapsed = this.lastAtMs ? (now - this.lastAtMs) / 1000 : 0;
    this.lastPushed = pushedNow;
    this.lastAtMs = now;
    if (this.withHealth && reports.size > 0) this.checkHealthSoon(now);
    return {
      snapshot: {
        atMs: now,
        members: best?.members ?? [],
        reports,
        health: this.health,
        healthAtMs: this.healthAtMs,
        backlog: this.backlog.view(),
        repairBytesPerSec: elapsed > 0 ? pushedDelta / elapsed : 0,
      },
      events,
    };
  }

  /** Starts a health check if none runs and the last started HEALTH_EVERY_MS ago; its result shows in a later snapshot. */
  private checkHealthSoon(now: number): void {
    if (this.healthRunning || now - this.healthStartedAtMs < HEALTH_EVERY_MS) return;
    this.healthRunning = true;
    this.healthStartedAtMs = now;
    fsck(this.client)
      .then((h) => {
        this.health = h;
        this.healthAtMs = now;
        this.backlog.add(now, h.underReplicated + h.missing);
      })
      // A check that fails (cells going away under it) leaves the last one, whose age the screen shows.
      .catch(() => undefined)
      .finally(() => (this.healthRunning = false));
  }

  /** Copies made by healing since the collector started watching (summed over every cell incarnation seen). */
  get chunksRepaired(): number {
    let n = 0;
    for (const v of this.pushedByIncarnation.values()) n += v;
    return n;
  }
}

/** The answers in by deadlineMs (null for each failed or still pending): a hung call cannot hold the caller. */
function withinDeadline<T>(calls: Promise<T>[], deadlineMs: number): Promise<(T | null)[]> {
  const results: (T | null)[] = calls.map(() => null);
  return new Promise((resolve) => {
    let pending = calls.length;
    const done = () => {
      clearTimeout(timer);
      resolve(results.slice());
    };
    const timer = setTimeout(done, deadlineMs + 50);
    if (pending === 0) return done();
    calls.forEach((c, i) =>
      c
        .then((v) => (results[i] = v))
        .catch(() => undefined)
        .finally(() => {
          if (--pending === 0) done();
        }),
    );
  });
}
