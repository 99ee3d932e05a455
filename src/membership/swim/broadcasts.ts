import type { CellId } from '../../core/index.js';

/**
 * Members with news to spread, and how often each piece was sent. The news
 * itself is not kept: a member's current entry is sent, so newer news about
 * it replaces older at no cost. Least-sent first; each item is sent
 * `transmitsMax` times in all and then dropped. Bounded: past `itemsMax`
 * the most-sent item goes (the periodic push-pull repairs what it missed).
 * Items sit in buckets by times sent: a pick costs what it takes, not the
 * queue's length. Urgent news (a suspicion, a death, a leave) not sent yet
 * goes before all else: a death must not wait behind a burst of joins.
 */
export class BroadcastQueue {
  /** buckets[t]: the members whose news was sent t times, oldest first. */
  private readonly buckets: Set<CellId>[] = [];
  /** Urgent news not sent yet, oldest first: taken before buckets[0]. */
  private readonly urgent = new Set<CellId>();
  private readonly sent = new Map<CellId, number>();

  /** `done(id)`: the news about `id` left the queue (sent enough times, dropped or removed). */
  constructor(
    private readonly itemsMax: number,
    private readonly done: (id: CellId) => void = () => {},
  ) {}

  get size(): number {
    return this.sent.size;
  }

  /** New news about `id`: sent again from scratch (first of all if urgent). */
  push(id: CellId, urgent = false): void {
    this.remove(id);
    if (this.sent.size >= this.itemsMax) this.dropMostSent();
    this.sent.set(id, 0);
    (urgent ? this.urgent : this.bucket(0)).add(id);
  }

  remove(id: CellId): void {
    const t = this.sent.get(id);
    if (t === undefined) return;
    this.sent.delete(id);
    if (!this.urgent.delete(id)) this.buckets[t]!.delete(id);
    this.done(id);
  }

  /**
   * Picks news for one message: least-sent first, while `fits(id)` says the
   * item still fits (it returns false once the message is full, null for news
   * no longer worth sending). Each picked item counts one send.
   */
  take(transmitsMax: number, fits: (id: CellId) => boolean | null): CellId[] {
    const picked: CellId[] = [];
    outer: for (const ids of [this.urgent, ...this.buckets]) {
      for (const id of ids) {
        const ok = fits(id);
        if (ok === null) {
          this.remove(id);
          continue;
        }
        if (!ok) break outer;
        picked.push(id);
      }
    }
    for (const id of picked) {
      const t = this.sent.get(id)! + 1;
      if (!this.urgent.delete(id)) this.buckets[t - 1]!.delete(id);
      if (t >= transmitsMax) {
        this.sent.delete(id);
        this.done(id);
      } else {
        this.sent.set(id, t);
        this.bucket(t).add(id);
      }
    }
    return picked;
  }

  private bucket(t: number): Set<CellId> {
    while (this.buckets.length <= t) this.buckets.push(new Set());
    return this.buckets[t]!;
  }

  private dropMostSent(): void {
    for (let t = this.buckets.length - 1; t >= 0; t--) {
      const oldest = this.buckets[t]!.values().next();
      if (!oldest.done) return this.remove(oldest.value);
    }
  }
}
