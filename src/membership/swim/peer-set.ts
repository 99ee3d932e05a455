import type { CellId, Rng } from '../../core/index.js';

/**
 * Members as a set with O(1) add, delete and random pick (an array with
 * swap-removal), and a shuffled round-robin over them: SWIM probes every
 * member once per round, in a new random order each round, so a failed
 * member is probed within at most two rounds by each cell.
 */
export class PeerSet {
  private readonly ids: CellId[] = [];
  private readonly index = new Map<CellId, number>();
  /** This round's order; members added meanwhile are slipped in at a random place still ahead. */
  private order: CellId[] = [];
  private cursor = 0;

  constructor(private readonly rng: Rng) {}

  get size(): number {
    return this.ids.length;
  }

  has(id: CellId): boolean {
    return this.index.has(id);
  }

  add(id: CellId): void {
    if (this.index.has(id)) return;
    this.index.set(id, this.ids.length);
    this.ids.push(id);
    // Deleted members linger in `order` until they are reached: a round with much churn starts over instead.
    if (this.order.length > 2 * this.ids.length + 64) return this.reshuffle();
    // Ahead of the cursor, at a random place: probed this round, not always last.
    this.order.push(id);
    const ahead = this.order.length - this.cursor;
    const j = this.cursor + this.rng.int(ahead);
    [this.order[j], this.order[this.order.length - 1]] = [this.order[this.order.length - 1]!, this.order[j]!];
  }

  delete(id: CellId): void {
    const i = this.index.get(id);
    if (i === undefined) return;
    const last = this.ids.pop()!;
    if (last !== id) {
      this.ids[i] = last;
      this.index.set(last, i);
    }
    this.index.delete(id);
    // Left in `order`: skipped when reached (an O(1) delete; the next round is rebuilt).
  }

  /** The next member to probe; null if there is none. */
  next(): CellId | null {
    if (this.ids.length === 0) return null;
    for (;;) {
      if (this.cursor >= this.order.length) this.reshuffle();
      const id = this.order[this.cursor++]!;
      if (this.index.has(id)) return id;
    }
  }

  /** Up to n distinct random members, none of them in `except`. */
  pick(n: number, except: ReadonlySet<CellId> = new Set()): CellId[] {
    const out: CellId[] = [];
    if (this.ids.length <= n + except.size) {
      for (const id of this.ids) if (!except.has(id) && out.length < n) out.push(id);
      return out;
    }
    const chosen = new Set<CellId>();
    // Enough members to choose from: random draws find n new ones in about n tries.
    for (let tries = 0; out.length < n && tries < 4 * (n + except.size) + 8; tries++) {
      const id = this.ids[this.rng.int(this.ids.length)]!;
      if (except.has(id) || chosen.has(id)) continue;
      chosen.add(id);
      out.push(id);
    }
    return out;
  }

  private reshuffle(): void {
    this.order = [...this.ids];
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [this.order[i], this.order[j]] = [this.order[j]!, this.order[i]!];
    }
    this.cursor = 0;
  }
}
