import { LRUCache } from 'lru-cache';
import type { Addr, ReadHedgeConfig } from '../core/index.js';
import { RttEstimator } from '../rpc/index.js';

/**
 * When a read gives up waiting on a replica and asks the next one too (a
 * hedge), and how many hedges a client may send. Each replica's answer time
 * (from sending a read to the first frame of its answer: the round trip
 * plus the cell's disk) is estimated like TCP's retransmission timeout,
 * smoothed mean plus four deviations (RttEstimator), clamped to
 * [delayMinMs, delayMaxMs]. A budget earns budgetPerRead hedges per read,
 * up to budgetMax: hedges cannot add more than that share of requests,
 * however slow the swarm gets. Pure bookkeeping: no timers.
 */
export class ReadHedgePolicy {
  /** Reads started, hedges sent, and hedges the budget refused (counted for tests and benchmarks). */
  readsStarted = 0;
  hedgesSent = 0;
  hedgesRefused = 0;
  private readonly answerTimes: LRUCache<Addr, RttEstimator>;
  /** What a replica not measured yet is given. */
  private readonly unmeasured: RttEstimator;
  private budget: number;

  constructor(private readonly init: ReadHedgeConfig) {
    this.answerTimes = new LRUCache({ max: init.peersMax });
    this.unmeasured = this.estimator();
    this.budget = init.budgetMax;
  }

  /** How long a read waits for a replica's first answer frame (or its next one, while it answers) before asking the next replica (ms). */
  delayFor(addr: Addr): number {
    return (this.answerTimes.get(addr) ?? this.unmeasured).rto();
  }

  /** How long a read waits for a replica's first answer at all before giving up on it (ms): a few hedge delays. */
  deadlineFor(addr: Addr): number {
    return this.init.deadlineDelays * this.delayFor(addr);
  }

  /** A replica's answer began this long after the read was sent (ms). */
  noteAnswerTime(addr: Addr, ms: number): void {
    let e = this.answerTimes.get(addr);
    if (!e) this.answerTimes.set(addr, (e = this.estimator()));
    e.sample(ms);
  }

  /** A read started: it earns its share of the budget. */
  noteRead(): void {
    this.readsStarted++;
    this.budget = Math.min(this.init.budgetMax, this.budget + this.init.budgetPerRead);
  }

  /**
   * Asks for one hedge. `free` for a hedge away from a replica already known
   * to have failed us (shunned): that is failover, not speculation, and
   * costs nothing. Otherwise one hedge from the budget, or false when it is spent.
   */
  takeHedge(free: boolean): boolean {
    if (!free) {
      if (this.budget < 1) {
        this.hedgesRefused++;
        return false;
      }
      this.budget -= 1;
    }
    this.hedgesSent++;
    return true;
  }

  private estimator(): RttEstimator {
    return new RttEstimator({ rtoInitialMs: this.init.delayInitialMs, rtoMinMs: this.init.delayMinMs, rtoMaxMs: this.init.delayMaxMs });
  }
}
