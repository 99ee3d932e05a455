import { LRUCache } from 'lru-cache';
import type { Addr, Clock, TimerHandle, WireConfig } from '../core/index.js';
import type { DropReason, Fragment } from '../wire/index.js';
import { Reassembly } from './reassembly.js';

/** New fragments between acks, and the delay before acking a partial run. */
const ACK_EVERY_FRAGMENTS = 4;
export const ACK_DELAY_MS = 3;
/** Transfers remembered as complete, so a late fragment gets a "complete" ack. */
const COMPLETED_MAX = 4096;
const COMPLETED_TTL_MS = 30_000;

export interface BulkReceiverInit {
  clock: Clock;
  wire: WireConfig;
  /** Acknowledges fragments of a transfer: `bitmap` null says "complete". */
  sendAck: (to: Addr, requestId: number, flags: number, count: number, bitmap: Uint8Array | null) => void;
}

/**
 * Incoming bulk messages put back together from their fragments: bounded
 * in number and bytes (a new transfer beyond either is dropped), acked
 * selectively (every few fragments, after a short delay, or at once on a
 * duplicate), and discarded when they stall.
 */
export class BulkReceiver {
  private readonly reassemblies = new Map<string, Reassembly>();
  private reassemblyBytes = 0;
  private readonly ackTimers = new Map<string, TimerHandle>();
  /**
   * Transfers completed recently: key -> fragment count. Made at the first
   * one: the cache allocates its whole table (~100 KB), and many endpoints
   * (clients, a simulator's 10,000 cells) never receive a large message.
   */
  private completedCache: LRUCache<string, number> | null = null;

  private get completed(): LRUCache<string, number> {
    this.completedCache ??= new LRUCache<string, number>({ max: COMPLETED_MAX, ttl: COMPLETED_TTL_MS, ttlAutopurge: false });
    return this.completedCache;
  }

  constructor(private readonly init: BulkReceiverInit) {}

  /**
   * Adds a fragment of the transfer `key` (from `from`, of request
   * `requestId`, whose frame had `flags`). Returns the whole message when
   * this fragment completed it, null while it is partial (or was already
   * complete: acked again), or why the fragment is dropped.
   */
  add(key: string, frag: Fragment, from: Addr, requestId: number, flags: number): Reassembly | DropReason | null {
    const doneCount = this.completedCache?.get(key);
    if (doneCount !== undefined) {
      this.init.sendAck(from, requestId, flags, doneCount, null);
      return null;
    }
    const { clock, wire } = this.init;
    let r = this.reassemblies.get(key);
    if (!r) {
      if (this.reassemblies.size >= wire.reassembliesMax) return 'reassembly-full';
      if (this.reassemblyBytes + frag.totalBytes > wire.reassemblyBytesMax) return 'reassembly-full';
      r = new Reassembly(frag, clock.now());
      this.reassemblies.set(key, r);
      this.reassemblyBytes += r.totalBytes;
    }
    const added = r.add(frag, clock.now());
    if (added === 'bad') return 'body';
    if (r.isComplete) {
      this.drop(key);
      this.completed.set(key, r.count);
      this.init.sendAck(from, requestId, flags, r.count, null);
      return r;
    }
    // A duplicate means our acks are not getting through: ack at once.
    if (added === 'duplicate' || r.unacked >= ACK_EVERY_FRAGMENTS) {
      this.ackNow(key, from, requestId, flags, r);
    } else if (!this.ackTimers.has(key)) {
      const reas = r;
      this.ackTimers.set(
        key,
        clock.setTimeout(() => {
          this.ackTimers.delete(key);
          if (this.reassemblies.get(key) === reas) this.ackNow(key, from, requestId, flags, reas);
        }, ACK_DELAY_MS),
      );
    }
    return null;
  }

  has(key: string): boolean {
    return this.reassemblies.has(key);
  }

  drop(key: string): void {
    const r = this.reassemblies.get(key);
    if (!r) return;
    this.reassemblies.delete(key);
    this.reassemblyBytes -= r.totalBytes;
    this.ackTimers.get(key)?.clear();
    this.ackTimers.delete(key);
  }

  /** Discards reassemblies that made no progress for the reassembly timeout; returns how many. */
  sweep(nowMs: number): number {
    let n = 0;
    for (const [key, r] of this.reassemblies) {
      if (nowMs - r.lastProgressMs > this.init.wire.reassemblyTimeoutMs) {
        this.drop(key);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    for (const t of this.ackTimers.values()) t.clear();
    this.ackTimers.clear();
    this.reassemblies.clear();
    this.reassemblyBytes = 0;
  }

  private ackNow(key: string, to: Addr, requestId: number, flags: number, r: Reassembly): void {
    this.ackTimers.get(key)?.clear();
    this.ackTimers.delete(key);
    r.unacked = 0;
    this.init.sendAck(to, requestId, flags, r.count, r.bitmap);
  }
}
