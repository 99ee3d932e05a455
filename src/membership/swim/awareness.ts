/**
 * Lifeguard's local health multiplier: a member that misses acks (its own
 * event loop is slow, its links lossy) or has to refute suspicions of
 * itself is probably the one at fault, so it probes more slowly and waits
 * longer for answers before accusing anyone. 0 is healthy; each probe
 * answered brings it one step back.
 */
export class Awareness {
  private score = 0;

  constructor(private readonly max: number) {}

  apply(delta: number): void {
    this.score = Math.min(this.max - 1, Math.max(0, this.score + delta));
  }

  get health(): number {
    return this.score;
  }

  /** A timeout or interval, stretched by how unhealthy this member is. */
  scale(ms: number): number {
    return ms * (this.score + 1);
  }
}
