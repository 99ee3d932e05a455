import type { DropReason, WireCounters } from '../wire/index.js';

/** The counters' shape is part of the STATUS answer (wire/messages/status.ts). */
export type { WireCounters };

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
