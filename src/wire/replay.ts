import type { CellId } from '../core/index.js';
import { REPLAY_FRAMES_PER_SENDER, REPLAY_SENDERS_MAX } from '../core/index.js';
import { TIMESTAMP_TICKS_PER_MS } from './frame.js';

interface SenderWindow {
  /** The last REPLAY_FRAMES_PER_SENDER timestamps accepted, oldest first in ring order (grown as frames come). */
  ring: number[];
  next: number;
  seen: Set<number>;
  /** The newest timestamp accepted (ms of the sender's clock). */
  newestMs: number;
}

/** Windows past their time looked at per check: forgetting costs O(1) a frame. */
const EXPIRED_CHECKED_PER_FRAME = 2;

/**
 * Replay protection. A frame is accepted once: its timestamp must be within
 * the window of our wall clock, and not among the timestamps recently
 * accepted from that sender. Timestamps increase strictly per sender, so a
 * frame older than everything remembered for its sender is a replay too.
 * Memory grows with the senders heard within the window, not with the
 * swarm: a sender's window is forgotten once its newest frame is older than
 * the window, when every frame it ever sent is refused as stale anyway (a
 * cell probed by 10,000 members a few at a time holds a few hundred
 * windows). Past `sendersMax` the least recently heard is forgotten early.
 */
export class ReplayGuard {
  private readonly senders = new Map<CellId, SenderWindow>();

  constructor(
    private readonly windowMs: number,
    private readonly sendersMax = REPLAY_SENDERS_MAX,
  ) {}

  /** Senders whose windows are held. */
  get sendersHeard(): number {
    return this.senders.size;
  }

  check(sender: CellId, timestamp: number, wallNowMs: number): 'ok' | 'stale' | 'replayed' {
    const ms = timestamp / TIMESTAMP_TICKS_PER_MS;
    if (Math.abs(ms - wallNowMs) > this.windowMs) return 'stale';
    this.forgetExpired(wallNowMs);
    let w = this.senders.get(sender);
    if (w) {
      // Most recently heard last: the Map's first entry is the one to forget.
      this.senders.delete(sender);
    } else {
      w = { ring: [], next: 0, seen: new Set(), newestMs: ms };
      if (this.senders.size >= this.sendersMax) this.senders.delete(this.senders.keys().next().value!);
    }
    this.senders.set(sender, w);
    if (w.seen.has(timestamp)) return 'replayed';
    if (w.ring.length === REPLAY_FRAMES_PER_SENDER) {
      const oldest = w.ring[w.next]!;
      if (timestamp < oldest) return 'replayed';
      w.seen.delete(oldest);
      w.ring[w.next] = timestamp;
    } else {
      w.ring.push(timestamp);
    }
    w.next = (w.next + 1) % REPLAY_FRAMES_PER_SENDER;
    w.seen.add(timestamp);
    if (ms > w.newestMs) w.newestMs = ms;
    return 'ok';
  }

  /** Forgets the least recently heard windows whose frames would all be stale now. */
  private forgetExpired(wallNowMs: number): void {
    for (let i = 0; i < EXPIRED_CHECKED_PER_FRAME; i++) {
      const first = this.senders.entries().next();
      if (first.done || wallNowMs - first.value[1].newestMs <= this.windowMs) return;
      this.senders.delete(first.value[0]);
    }
  }
}

/** Issues strictly increasing frame timestamps from a wall clock. */
export class TimestampSource {
  private last = 0;

  next(wallNowMs: number): number {
    const t = Math.max(Math.floor(wallNowMs) * TIMESTAMP_TICKS_PER_MS, this.last + 1);
    this.last = t;
    return t;
  }
}
