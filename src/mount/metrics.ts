import { Registry, counterOf, gaugeOf, labelledCounterOf, processMetrics, wireMetrics, type WireCounters } from '../metrics/index.js';
import { FUSE_OPS, type FuseOpMetrics } from './op-metrics.js';

/** What a mount's metrics are read from, at each scrape. */
export interface MountMetricSources {
  ops: FuseOpMetrics;
  cache: () => { hits: number; misses: number; bytes: number };
  /** The mount's swarm client's wire counters. */
  wire: () => WireCounters;
}

/**
 * A mount's metrics (`mount --metrics`): FUSE requests by operation with
 * their latency, errors, bytes read and written through the mount, the
 * chunk cache's hits and misses, its wire counters and its memory.
 */
export function mountRegistry(s: MountMetricSources): Registry {
  const r = new Registry();
  s.ops.latency.register(r);
  labelledCounterOf(r, 'cellsync_fuse_op_errors_total', 'FUSE requests answered with an errno, by operation (ENOENT for a missing name, ENODATA for a missing xattr count).', 'op', FUSE_OPS, (op) => s.ops.errors[FUSE_OPS.indexOf(op)]!);
  labelledCounterOf(r, 'cellsync_fuse_op_failures_total', "FUSE requests answered EIO or ENOSPC, by operation: what the mount could not do (its log says why).", 'op', FUSE_OPS, (op) => s.ops.failures[FUSE_OPS.indexOf(op)]!);
  counterOf(r, 'cellsync_fuse_read_bytes_total', 'Bytes read through the mount (FUSE read answers).', () => s.ops.bytesRead);
  counterOf(r, 'cellsync_fuse_written_bytes_total', 'Bytes written through the mount (FUSE write answers).', () => s.ops.bytesWritten);
  counterOf(r, 'cellsync_chunk_cache_hits_total', "Chunk lookups answered from the mount's memory.", () => s.cache().hits);
  counterOf(r, 'cellsync_chunk_cache_misses_total', 'Chunks fetched whole from the swarm because memory did not have them (read-ahead included).', () => s.cache().misses);
  gaugeOf(r, 'cellsync_chunk_cache_bytes', 'Bytes of verified chunks the mount holds in memory.', () => s.cache().bytes);
  wireMetrics(r, s.wire);
  processMetrics(r);
  return r;
}
