import type { CellId } from '../../core/index.js';

/** Buckets a table digest keeps: an exchange between tables that differ in a few members sends about 1/256 of them each. */
export const DIGEST_BUCKETS_MAX = 256;
/** Members per bucket a push-pull aims at: fewer buckets in small tables, whose digests would be all the message. */
const MEMBERS_PER_BUCKET = 16;
/** Hex digits of one bucket's digest (two 32-bit halves). */
export const BUCKET_HEX = 16;

/** A member's bucket: the first byte of its id (ids are random). */
export const bucketOf = (id: CellId): number => parseInt(id.slice(0, 2), 16);

/** How many buckets a push-pull between tables of about `members` compares: a power of two, about 16 members each. */
export const bucketsFor = (members: number): number =>
  Math.min(DIGEST_BUCKETS_MAX, 2 ** Math.max(0, Math.ceil(Math.log2(members / MEMBERS_PER_BUCKET))));

/** A member's entry as a digest sees it: its bucket, its description's shares (member-ids.ts) and its state byte. */
export interface DigestEntry {
  bucket: number;
  shares: Uint32Array;
  state: number;
}

/**
 * A digest of a member table in 256 buckets: each the XOR of its members'
 * shares, so an entry goes in or out in O(1) and equal tables have equal
 * digests. Folded to fewer buckets (a power of two) for an exchange, or to
 * one for the whole. Two tables that differ in a few members differ in a few
 * buckets: a push-pull sends only their members.
 */
export class TableDigest {
  private readonly xor = new Uint32Array(2 * DIGEST_BUCKETS_MAX);

  /** Puts an entry in, or takes it out (the same call). */
  toggle(bucket: number, shares: Uint32Array, state: number): void {
    this.xor[2 * bucket] ^= shares[2 * state]!;
    this.xor[2 * bucket + 1] ^= shares[2 * state + 1]!;
  }

  /** The digests of `count` buckets (bucket b holds the members whose bucket is b modulo count), `extra` toggled in. */
  buckets(count: number, extra?: DigestEntry): string[] {
    const folded = new Uint32Array(2 * count);
    for (let b = 0; b < DIGEST_BUCKETS_MAX; b++) {
      folded[2 * (b % count)] ^= this.xor[2 * b]!;
      folded[2 * (b % count) + 1] ^= this.xor[2 * b + 1]!;
    }
    if (extra) {
      folded[2 * (extra.bucket % count)] ^= extra.shares[2 * extra.state]!;
      folded[2 * (extra.bucket % count) + 1] ^= extra.shares[2 * extra.state + 1]!;
    }
    const hex = (x: number) => (x >>> 0).toString(16).padStart(8, '0');
    return Array.from({ length: count }, (_, b) => hex(folded[2 * b]!) + hex(folded[2 * b + 1]!));
  }

  /** The digest of the whole table, `extra` toggled in: 16 hex digits. */
  whole(extra?: DigestEntry): string {
    return this.buckets(1, extra)[0]!;
  }
}

/** The buckets whose digests differ between two lists of the same length (hex, BUCKET_HEX digits each). */
export function differingBuckets(mine: readonly string[], theirs: string): Set<number> {
  const out = new Set<number>();
  for (let b = 0; b < mine.length; b++) if (theirs.slice(b * BUCKET_HEX, (b + 1) * BUCKET_HEX) !== mine[b]) out.add(b);
  return out;
}
