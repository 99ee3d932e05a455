import { LRUCache } from 'lru-cache';
import { TokenBucket, type Addr, type Clock } from '../core/index.js';
import { FLAG_RESPONSE } from '../wire/index.js';

/** Sources remembered, for each side: what is kept is bounded whatever arrives. */
const SOURCES_MAX = 256;
/** One KEY_MISMATCH answer per source this often (ms): a client retrying learns it on its first try. */
const ANSWER_EVERY_MS = 1_000;
/** KEY_MISMATCH answers per second in all: spoofed sources cannot turn a cell into a sender of many. */
const ANSWERS_PER_SEC_MAX = 50;
/** How long an unverifiable frame from an address counts as its answer (ms). */
export const UNVERIFIED_RECENT_MS = 30_000;

/**
 * A frame that fails the tag check is dropped; this says so to its sender,
 * so that a client holding another swarm's key is told "answered, but not
 * with your key" instead of hearing nothing (docs/decisions/0038). A request
 * (not a response, nor a one-way notice, so two endpoints never answer each
 * other) is answered by an empty KEY_MISMATCH notice signed with our own key,
 * which the sender in turn cannot verify: that failure is what it records.
 * The answer is no larger than what prompted it, and rate-limited per source
 * and in all. The fields read here are not authenticated: they decide only
 * whether to send that small answer.
 */
export class KeyMismatch {
  private readonly answeredAt = new LRUCache<Addr, number>({ max: SOURCES_MAX });
  private readonly unverifiedAt = new LRUCache<Addr, number>({ max: SOURCES_MAX });
  private readonly answers: TokenBucket;

  constructor(private readonly clock: Clock) {
    this.answers = new TokenBucket(clock, ANSWERS_PER_SEC_MAX);
  }

  /** Notes a datagram from `from` that failed the tag check; true if it should be answered with KEY_MISMATCH. */
  unverified(datagram: Buffer, from: Addr): boolean {
    const now = this.clock.now();
    this.unverifiedAt.set(from, now);
    const requestId = datagram.readUInt32BE(16);
    const isResponse = (datagram.readUInt8(4) & FLAG_RESPONSE) !== 0;
    if (requestId === 0 || isResponse) return false;
    const last = this.answeredAt.get(from);
    if (last !== undefined && now - last < ANSWER_EVERY_MS) return false;
    if (!this.answers.tryTake()) return false;
    this.answeredAt.set(from, now);
    return true;
  }

  /** The addresses among `addrs` that sent us frames we could not verify within UNVERIFIED_RECENT_MS. */
  unverifiedFrom(addrs: readonly Addr[]): Addr[] {
    const now = this.clock.now();
    return addrs.filter((a) => {
      const at = this.unverifiedAt.get(a);
      return at !== undefined && now - at < UNVERIFIED_RECENT_MS;
    });
  }
}
