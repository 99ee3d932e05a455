/** How far back the repair rate looks (ms): long enough to span a few health measurements, short enough to follow a change of pace. */
export const BACKLOG_WINDOW_MS = 60_000;
/** Measurements kept (one per health check, every few seconds): bounds the window's memory. */
const SAMPLES_MAX = 64;

/** The repair backlog as top shows it: chunks short of copies, how much of the worst of it is done, the pace and the time left. */
export interface BacklogView {
  /** Chunks with fewer than R live copies (missing ones included) at the last measurement. */
  chunks: number;
  /** The largest backlog since it last was zero: what "done" is measured against. */
  peak: number;
  /** Share of the peak repaired, 0..1. */
  done: number;
  /** Chunks repaired per second over the window (0 when not shrinking). */
  chunksPerSec: number;
  /** Seconds left at that pace, or null when it is not shrinking (no estimate). */
  etaS: number | null;
}

/**
 * Follows the backlog across health measurements. Pure bookkeeping: it is
 * handed (time, count) pairs and keeps a bounded window of them.
 */
export class RepairBacklog {
  private readonly samples: { atMs: number; chunks: number }[] = [];
  private peak = 0;

  add(atMs: number, chunks: number): void {
    if (chunks === 0) this.peak = 0;
    this.peak = Math.max(this.peak, chunks);
    this.samples.push({ atMs, chunks });
    while (this.samples.length > SAMPLES_MAX || (this.samples.length > 2 && atMs - this.samples[0]!.atMs > BACKLOG_WINDOW_MS)) this.samples.shift();
  }

  view(): BacklogView | null {
    const last = this.samples.at(-1);
    if (!last) return null;
    const first = this.samples[0]!;
    const seconds = (last.atMs - first.atMs) / 1000;
    const chunksPerSec = seconds > 0 ? Math.max(0, (first.chunks - last.chunks) / seconds) : 0;
    return {
      chunks: last.chunks,
      peak: this.peak,
      done: this.peak > 0 ? (this.peak - last.chunks) / this.peak : 1,
      chunksPerSec,
      etaS: last.chunks > 0 && chunksPerSec > 0 ? last.chunks / chunksPerSec : null,
    };
  }
}
