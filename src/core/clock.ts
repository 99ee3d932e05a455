/**
 * Time, injected. Components never read Date.now() or the global timers
 * directly, so tests can drive them with a SimClock.
 */
export interface TimerHandle {
  clear(): void;
}

export interface Clock {
  /** Monotonic milliseconds (not wall time). */
  now(): number;
  /** Wall-clock milliseconds since the epoch (frame timestamps, events). */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
}

/** The real clock. Timers are unref'd: they never keep a process alive on their own. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { clear: () => clearTimeout(t) };
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    t.unref();
    return { clear: () => clearInterval(t) };
  },
};

interface SimTimer {
  id: number;
  at: number;
  fn: () => void;
  everyMs: number | null;
}

/** Simulated time: advances only on advance(ms), firing due callbacks in time order. */
export class SimClock implements Clock {
  private current = 0;
  private nextId = 1;
  private timers = new Map<number, SimTimer>();

  constructor(private readonly epochMs = 1_700_000_000_000) {}

  now(): number {
    return this.current;
  }

  wallNow(): number {
    return this.epochMs + this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, null);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }

  /** Moves time forward by ms, running every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      let due: SimTimer | undefined;
      for (const t of this.timers.values()) {
        if (t.at <= end && (!due || t.at < due.at || (t.at === due.at && t.id < due.id))) due = t;
      }
      if (!due) break;
      this.current = Math.max(this.current, due.at);
      if (due.everyMs === null) this.timers.delete(due.id);
      else due.at += due.everyMs;
      due.fn();
    }
    this.current = end;
  }

  private add(fn: () => void, ms: number, everyMs: number | null): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.current + Math.max(0, ms), fn, everyMs });
    return { clear: () => this.timers.delete(id) };
  }
}
