import type { DropReason } from '../wire/index.js';

/** Wire counters, shown by `swarm status`. */
export interface WireCounters {
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Requests and fragments sent again after a timeout or a detected loss. */
  retransmitted: number;
  requestsServed: number;
  /** Retried requests answered from the duplicate cache instead of being executed again. */
  duplicatesSuppressed: number;
  requestsTimedOut: number;
  /** Requests refused locally or remotely because a bound was reached. */
  busy: number;
  dropped: Partial<Record<DropReason, number>>;
}

export function newCounters(): WireCounters {
  return {
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    retransmitted: 0,
    requestsServed: 0,
    duplicatesSuppressed: 0,
    requestsTimedOut: 0,
    busy: 0,
    dropped: {},
  };
}

export function countDrop(c: WireCounters, reason: DropReason): void {
  c.dropped[reason] = (c.dropped[reason] ?? 0) + 1;
}
