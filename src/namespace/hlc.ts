import type { Clock } from '../core/index.js';
import { isVersionStamp, parseVersionStamp } from '../wire/index.js';

/**
 * Hybrid logical clock: wall time when clocks agree, a counter when they do
 * not, and the writer's id as the last tie-breaker. Serialized so that string
 * order is causal order, which is all last-writer-wins needs:
 * "<wall ms, 12 hex>.<counter, 6 hex>.<node id>".
 */
export class HybridClock {
  private wallMs = 0;
  private counter = 0;

  constructor(private readonly clock: Pick<Clock, 'wallNow'>, private readonly node: string) {}

  /** A timestamp for a local event, later than every timestamp seen or issued. */
  now(): string {
    const wall = Math.floor(this.clock.wallNow());
    if (wall > this.wallMs) {
      this.wallMs = wall;
      this.counter = 0;
    } else {
      this.counter++;
    }
    return format(this.wallMs, this.counter, this.node);
  }

  /** Moves the clock past a timestamp received from elsewhere. */
  observe(stamp: string): void {
    const p = parse(stamp);
    if (!p) return;
    if (p.wallMs > this.wallMs || (p.wallMs === this.wallMs && p.counter > this.counter)) {
      this.wallMs = p.wallMs;
      this.counter = p.counter;
    }
  }
}

function format(wallMs: number, counter: number, node: string): string {
  return `${wallMs.toString(16).padStart(12, '0')}.${counter.toString(16).padStart(6, '0')}.${node}`;
}

/** The stamp's format is part of the wire (a record's version): validated there. */
export const parse = parseVersionStamp;
export const isHlc = isVersionStamp;
