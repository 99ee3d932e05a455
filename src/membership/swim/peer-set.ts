import type { Rng } from '../../core/index.js';

/**
 * Members (by index, see MemberIds) as a set with O(1) add, delete and
 * random pick, and a shuffled round-robin over them: SWIM probes every
 * member once per round, in a new random order each round, so a failed
 * member is probed within at most two rounds by each cell. One array in
 * round order: members before the cursor were probed this round, the rest
 * are still to come; both parts keep that meaning through adds and deletes.
 */
export class PeerSet {
  private order = new Int32Array(16);
  private count = 0;
  /** pos[i] - 1: where member i sits in `order`; 0: not in the set. */
  private pos = new Int32Array(16);
  private cursor = 0;

  constructor(private readonly rng: Rng) {}

  get size(): number {
    return this.count;
  }

  /** Every member, in no particular order (a view: do not keep it across changes). */
  get all(): Int32Array {
    return this.order.subarray(0, this.count);
  }

  /** Room for `count` members of indices below `indices` without growing (a table filled at once). */
  reserve(count: number, indices: number): void {
    if (indices > this.pos.length) this.pos = grown(this.pos, indices, 1);
    if (count > this.order.length) this.order = grown(this.order, count, 1);
  }

  has(i: number): boolean {
    return i < this.pos.length && this.pos[i] !== 0;
  }

  add(i: number): void {
    if (this.has(i)) return;
    if (i >= this.pos.length) this.pos = grown(this.pos, i + 1);
    if (this.count === this.order.length) this.order = grown(this.order, this.count + 1);
    this.put(this.count++, i);
    // Ahead of the cursor, at a random place: probed this round, not always last.
    this.swap(this.count - 1, this.cursor + this.rng.int(this.count - this.cursor));
  }

  delete(i: number): void {
    if (!this.has(i)) return;
    let hole = this.pos[i]! - 1;
    if (hole < this.cursor) {
      // Probed this round: the last probed one fills the hole, and the probed part shrinks by one.
      this.put(hole, this.order[--this.cursor]!);
      hole = this.cursor;
    }
    const last = --this.count;
    if (hole !== last) this.put(hole, this.order[last]!);
    this.pos[i] = 0;
  }

  /** The next member to probe; -1 if there is none. */
  next(): number {
    if (this.count === 0) return -1;
    if (this.cursor >= this.count) this.reshuffle();
    return this.order[this.cursor++]!;
  }

  /** Up to n distinct random members, none of them in `except`. */
  pick(n: number, except: ReadonlySet<number> = NONE): number[] {
    const out: number[] = [];
    if (this.count <= n + except.size) {
      for (let k = 0; k < this.count && out.length < n; k++) if (!except.has(this.order[k]!)) out.push(this.order[k]!);
      return out;
    }
    // Enough members to choose from: random draws find n new ones in about n tries.
    for (let tries = 0; out.length < n && tries < 4 * (n + except.size) + 8; tries++) {
      const i = this.order[this.rng.int(this.count)]!;
      if (!except.has(i) && !out.includes(i)) out.push(i);
    }
    return out;
  }

  private put(at: number, i: number): void {
    this.order[at] = i;
    this.pos[i] = at + 1;
  }

  private swap(a: number, b: number): void {
    const x = this.order[a]!;
    this.put(a, this.order[b]!);
    this.put(b, x);
  }

  private reshuffle(): void {
    for (let k = this.count - 1; k > 0; k--) this.swap(k, this.rng.int(k + 1));
    this.cursor = 0;
  }
}

const NONE: ReadonlySet<number> = new Set();

/** A copy of `a` with room for at least `min` items (by default a quarter more than it had: growth one by one stays O(1) amortized). */
function grown(a: Int32Array, min: number, factor = 1.25): Int32Array<ArrayBuffer> {
  const b = new Int32Array(Math.max(min, Math.ceil(a.length * factor), 16));
  b.set(a);
  return b;
}
