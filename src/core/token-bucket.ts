import type { Clock } from './clock.js';

/**
 * A token bucket for bandwidth or a rate of events: take(n) waits until n
 * tokens are available, tryTake(n) takes them only if they are there now.
 * The burst is one second's worth, or n when n is larger, so a single large
 * take is never refused, only delayed.
 */
export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(private readonly clock: Clock, private readonly ratePerSec: number) {
    this.tokens = ratePerSec;
    this.lastMs = clock.now();
  }

  /** Takes n tokens if they are there now; false (taking nothing) if not. */
  tryTake(n = 1): boolean {
    const now = this.clock.now();
    this.tokens = Math.min(Math.max(this.ratePerSec, n), this.tokens + ((now - this.lastMs) / 1000) * this.ratePerSec);
    this.lastMs = now;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Waits for n tokens and takes them; an abort ends the wait at once, taking nothing. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) return;
      if (this.tryTake(n)) return;
      const waitMs = ((n - this.tokens) / this.ratePerSec) * 1000;
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimeout(done, Math.max(1, waitMs));
        signal?.addEventListener('abort', done, { once: true });
        function done() {
          timer.clear();
          signal?.removeEventListener('abort', done);
          resolve();
        }
      });
    }
  }
}
