import type { Scrape } from '../metrics/index.js';
import { formatBytes } from './render.js';

/*
 * `cellsync stats`: per-second figures from two scrapes of a cell's or a
 * mount's metrics endpoint (the differences of its counters over the time
 * between them), and how they are printed. Pure: the command scrapes.
 */

/** One FUSE operation's figures over an interval. */
export interface OpRate {
  op: string;
  perSec: number;
  /** Mean latency over the interval (ms). */
  avgMs: number;
  /** 99th percentile latency, interpolated within its histogram bucket (ms). */
  p99Ms: number;
  /** Answered with an errno (ENOENT for a missing name counts). */
  errorsPerSec: number;
  /** Answered EIO or ENOSPC: failures. */
  failuresPerSec: number;
}

export interface MountRates {
  kind: 'mount';
  opsPerSec: number;
  readBytesPerSec: number;
  writeBytesPerSec: number;
  errorsPerSec: number;
  failuresPerSec: number;
  /** Mean latency of every op in the interval (ms). */
  avgMs: number;
  /** Share of chunk lookups answered from memory in the interval, or null when there were none. */
  cacheHitRatio: number | null;
  rssBytes: number;
  /** Ops that ran in the interval, the busiest first. */
  ops: OpRate[];
}

export interface CellRates {
  kind: 'cell';
  bytesInPerSec: number;
  bytesOutPerSec: number;
  framesInPerSec: number;
  framesOutPerSec: number;
  repairCopiesPerSec: number;
  repairBytesPerSec: number;
  scrubBytesPerSec: number;
  dropsPerSec: number;
  corruptionsFound: number;
  quarantines: number;
  chunks: number;
  members: Record<string, number>;
  rssBytes: number;
}

export type Rates = MountRates | CellRates;

const OP_HISTOGRAM = 'cellsync_fuse_op_seconds';

/** The figures between two scrapes of one endpoint (a mount's when it serves FUSE op metrics, else a cell's). */
export function ratesBetween(prev: Scrape, cur: Scrape): Rates {
  const seconds = Math.max(1e-3, (cur.atMs - prev.atMs) / 1000);
  const rate = (name: string, labels?: Record<string, string>) => Math.max(0, cur.value(name, labels) - prev.value(name, labels)) / seconds;
  const rssBytes = cur.value('process_resident_memory_bytes');
  if (cur.has(OP_HISTOGRAM)) {
    const ops = opRates(prev, cur, seconds);
    const count = ops.reduce((a, o) => a + o.perSec, 0);
    const hits = rate('cellsync_chunk_cache_hits_total');
    const misses = rate('cellsync_chunk_cache_misses_total');
    return {
      kind: 'mount',
      opsPerSec: count,
      readBytesPerSec: rate('cellsync_fuse_read_bytes_total'),
      writeBytesPerSec: rate('cellsync_fuse_written_bytes_total'),
      errorsPerSec: ops.reduce((a, o) => a + o.errorsPerSec, 0),
      failuresPerSec: ops.reduce((a, o) => a + o.failuresPerSec, 0),
      avgMs: count > 0 ? ops.reduce((a, o) => a + o.avgMs * o.perSec, 0) / count : 0,
      cacheHitRatio: hits + misses > 0 ? hits / (hits + misses) : null,
      rssBytes,
      ops,
    };
  }
  const members: Record<string, number> = {};
  for (const s of cur.samples('cellsync_members')) if (s.labels.state) members[s.labels.state] = s.value;
  return {
    kind: 'cell',
    bytesInPerSec: rate('cellsync_wire_bytes_received_total'),
    bytesOutPerSec: rate('cellsync_wire_bytes_sent_total'),
    framesInPerSec: rate('cellsync_wire_frames_received_total'),
    framesOutPerSec: rate('cellsync_wire_frames_sent_total'),
    repairCopiesPerSec: rate('cellsync_repair_copies_total'),
    repairBytesPerSec: rate('cellsync_repair_bytes_total'),
    scrubBytesPerSec: rate('cellsync_scrub_bytes_total'),
    dropsPerSec: cur.samples('cellsync_wire_dropped_total').reduce((a, s) => a + Math.max(0, s.value - prev.value('cellsync_wire_dropped_total', s.labels)), 0) / seconds,
    corruptionsFound: cur.value('cellsync_corruptions_found_total'),
    quarantines: cur.value('cellsync_quarantines_total'),
    chunks: cur.value('cellsync_store_chunks'),
    members,
    rssBytes,
  };
}

function opRates(prev: Scrape, cur: Scrape, seconds: number): OpRate[] {
  const before = new Map(prev.histogram(OP_HISTOGRAM).map((h) => [h.labels.op ?? '', h]));
  const out: OpRate[] = [];
  for (const h of cur.histogram(OP_HISTOGRAM)) {
    const op = h.labels.op ?? '';
    const p = before.get(op);
    const count = h.count - (p?.count ?? 0);
    if (count <= 0) continue;
    const buckets = h.buckets.map(({ le, n }) => ({ le, n: n - (p?.buckets.find((b) => b.le === le)?.n ?? 0) }));
    out.push({
      op,
      perSec: count / seconds,
      avgMs: ((h.sum - (p?.sum ?? 0)) / count) * 1000,
      p99Ms: quantile(buckets, 0.99) * 1000,
      errorsPerSec: grown(prev, cur, 'cellsync_fuse_op_errors_total', { op }) / seconds,
      failuresPerSec: grown(prev, cur, 'cellsync_fuse_op_failures_total', { op }) / seconds,
    });
  }
  return out.sort((a, b) => b.perSec - a.perSec);
}

/** How much a counter grew between two scrapes (0 if it went down: the process restarted). */
function grown(prev: Scrape, cur: Scrape, name: string, labels?: Record<string, string>): number {
  return Math.max(0, cur.value(name, labels) - prev.value(name, labels));
}

/**
 * The q-quantile of a histogram's observations from its cumulative buckets
 * (upper bound `le`, count at or below it), interpolated linearly within the
 * bucket it falls in, as Prometheus' histogram_quantile does; past the last
 * finite bound, that bound.
 */
export function quantile(buckets: { le: number; n: number }[], q: number): number {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.n ?? 0;
  if (total <= 0) return 0;
  const rank = q * total;
  let lowerLe = 0;
  let lowerN = 0;
  for (const { le, n } of sorted) {
    if (n >= rank) {
      if (!Number.isFinite(le)) return lowerLe;
      return n === lowerN ? le : lowerLe + ((le - lowerLe) * (rank - lowerN)) / (n - lowerN);
    }
    lowerLe = le;
    lowerN = n;
  }
  return lowerLe;
}

/** How many ops a mount's view lists under its line, the busiest. */
const OPS_SHOWN_MAX = 8;

const count = (n: number) => (n === 0 ? '0' : n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 0 : 1));
const perSec = (n: number) => `${count(n)}/s`;
const bytesPerSec = (n: number) => `${formatBytes(Math.round(n))}/s`;
const ms = (n: number) => `${n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n.toFixed(2)} ms`;

/** A mount's or a cell's figures as lines: a summary line, then (a mount) a line per busy op with its latency. */
export function formatRates(stamp: string, addr: string, r: Rates): string[] {
  if (r.kind === 'mount') {
    const hit = r.cacheHitRatio === null ? '-' : `${Math.round(r.cacheHitRatio * 100)}%`;
    const lines = [
      `${stamp} ${addr} mount  ops ${perSec(r.opsPerSec)}  read ${bytesPerSec(r.readBytesPerSec)}  write ${bytesPerSec(r.writeBytesPerSec)}  ` +
        `lat ${ms(r.avgMs)}  cache hit ${hit}  errno ${perSec(r.errorsPerSec)}  failed ${perSec(r.failuresPerSec)}  rss ${formatBytes(r.rssBytes)}`,
    ];
    for (const o of r.ops.slice(0, OPS_SHOWN_MAX)) {
      lines.push(`    ${o.op.padEnd(12)} ${perSec(o.perSec).padStart(9)}  avg ${ms(o.avgMs).padStart(9)}  p99 ${ms(o.p99Ms).padStart(9)}${o.errorsPerSec > 0 ? `  errno ${perSec(o.errorsPerSec)}` : ''}${o.failuresPerSec > 0 ? `  failed ${perSec(o.failuresPerSec)}` : ''}`);
    }
    return lines;
  }
  const members = Object.entries(r.members)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state}`)
    .join(', ');
  return [
    `${stamp} ${addr} cell  in ${bytesPerSec(r.bytesInPerSec)} ${count(r.framesInPerSec)} frames/s  out ${bytesPerSec(r.bytesOutPerSec)} ${count(r.framesOutPerSec)} frames/s  ` +
      `repair ${count(r.repairCopiesPerSec)} copies/s ${bytesPerSec(r.repairBytesPerSec)}  scrub ${bytesPerSec(r.scrubBytesPerSec)}  drops ${perSec(r.dropsPerSec)}  ` +
      `chunks ${r.chunks}  corruptions ${r.corruptionsFound}  quarantines ${r.quarantines}  members ${members || '-'}  rss ${formatBytes(r.rssBytes)}`,
  ];
}
