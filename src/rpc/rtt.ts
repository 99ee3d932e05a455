/**
 * Per-peer round-trip estimate (Jacobson/Karels, as TCP's RFC 6298): the
 * retransmission timeout follows the measured RTT and its variance, so a
 * loopback peer is retried in milliseconds and a slow one is not flooded.
 * Feed it only samples from requests that were not retransmitted (Karn).
 */
export class RttEstimator {
  private srttMs: number | null = null;
  private rttvarMs = 0;

  constructor(
    private readonly init: { rtoInitialMs: number; rtoMinMs: number; rtoMaxMs: number },
  ) {}

  sample(rttMs: number): void {
    if (this.srttMs === null) {
      this.srttMs = rttMs;
      this.rttvarMs = rttMs / 2;
    } else {
      this.rttvarMs = 0.75 * this.rttvarMs + 0.25 * Math.abs(this.srttMs - rttMs);
      this.srttMs = 0.875 * this.srttMs + 0.125 * rttMs;
    }
  }

  /** Smoothed RTT, or null before the first sample. */
  get srtt(): number | null {
    return this.srttMs;
  }

  /** Retransmission timeout for the given attempt (0 = first send), doubling per retry. */
  rto(attempt = 0): number {
    const base = this.srttMs === null ? this.init.rtoInitialMs : this.srttMs + 4 * this.rttvarMs;
    const backedOff = Math.max(this.init.rtoMinMs, base) * 2 ** Math.min(attempt, 16);
    return Math.min(this.init.rtoMaxMs, backedOff);
  }
}
