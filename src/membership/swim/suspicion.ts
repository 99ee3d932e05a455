import type { CellId, Clock, TimerHandle } from '../../core/index.js';

/**
 * Lifeguard's dynamic suspicion (as memberlist's suspicion.go): a suspect is
 * declared dead after a timeout that starts at `maxMs` and falls towards
 * `minMs` as independent members confirm the suspicion, logarithmically:
 * after c of the k confirmations expected, max - (max - min) * log(c + 1) / log(k + 1).
 * Few confirmations (a lone accuser with a bad link) leave time to refute;
 * many (the member is really gone) make the death quick.
 */
export class Suspicion {
  private readonly accusers = new Set<CellId>();
  private readonly startedMs: number;
  private timer: TimerHandle | null = null;

  /** `k`: confirmations expected, beyond the first accuser; 0 = the shortest timeout at once (too few members to confirm). */
  constructor(
    private readonly clock: Clock,
    private readonly k: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    accusers: readonly CellId[],
    private readonly onTimeout: () => void,
  ) {
    this.startedMs = clock.now();
    for (const a of accusers.slice(0, k + 1)) this.accusers.add(a);
    this.schedule();
  }

  /** The members accusing it, the first one first (what a suspect update names). */
  get accusersList(): CellId[] {
    return [...this.accusers];
  }

  get accusersCount(): number {
    return this.accusers.size;
  }

  /** Another member suspects it too; true if that one is new (news worth passing on). */
  confirm(accuser: CellId): boolean {
    if (this.accusers.has(accuser) || this.accusers.size > this.k) return false;
    this.accusers.add(accuser);
    this.schedule();
    return true;
  }

  cancel(): void {
    this.timer?.clear();
    this.timer = null;
  }

  private schedule(): void {
    this.timer?.clear();
    const confirmations = Math.max(0, this.accusers.size - 1);
    const share = this.k < 1 ? 1 : Math.log(confirmations + 1) / Math.log(this.k + 1);
    const timeoutMs = Math.max(this.minMs, this.maxMs - share * (this.maxMs - this.minMs));
    const remainingMs = Math.max(0, this.startedMs + timeoutMs - this.clock.now());
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.onTimeout();
    }, remainingMs);
  }
}
