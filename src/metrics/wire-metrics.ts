import type { Registry } from 'prom-client';
import { DROP_REASONS, type WireCounters } from '../wire/index.js';
import { counterOf, labelledCounterOf } from './collected.js';

export type { WireCounters };

/** An endpoint's wire counters (rpc/counters.ts, the same as STATUS carries), read at each scrape. */
export function wireMetrics(registry: Registry, counters: () => WireCounters): void {
  counterOf(registry, 'cellsync_wire_frames_sent_total', 'Frames sent (datagrams, fragments included).', () => counters().framesSent);
  counterOf(registry, 'cellsync_wire_frames_received_total', 'Frames received and accepted.', () => counters().framesReceived);
  counterOf(registry, 'cellsync_wire_bytes_sent_total', 'Bytes of frames sent.', () => counters().bytesSent);
  counterOf(registry, 'cellsync_wire_bytes_received_total', 'Bytes of frames received.', () => counters().bytesReceived);
  counterOf(registry, 'cellsync_wire_retransmitted_total', 'Requests and fragments sent again after a timeout or a detected loss.', () => counters().retransmitted);
  counterOf(registry, 'cellsync_wire_requests_served_total', 'Requests served.', () => counters().requestsServed);
  counterOf(registry, 'cellsync_wire_requests_timed_out_total', 'Requests that got no answer in time.', () => counters().requestsTimedOut);
  counterOf(registry, 'cellsync_wire_busy_total', 'Requests refused because a bound was reached.', () => counters().busy);
  labelledCounterOf(registry, 'cellsync_wire_dropped_total', 'Datagrams dropped, by reason (malformed, unauthenticated, replayed, ...).', 'reason', DROP_REASONS, (r) => counters().dropped[r] ?? 0);
}
