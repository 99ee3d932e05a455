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

/**
 * Resolves once the process has no file system request pending and promise
 * continuations have run: real asynchronous work (disk I/O of the stores)
 * takes no simulated time, so a SimClock waits for it between timers. Gives
 * up after turnsMax turns of the event loop (work that never ends).
 */
export async function ioSettled(turnsMax = 100_000): Promise<void> {
  // A request finished in this turn is still listed until the next one: two quiet looks in a row mean none is left.
  let quiet = process.getActiveResourcesInfo().some(isFileRequest) ? 0 : 1;
  for (let turn = 0; turn < turnsMax && quiet < 2; turn++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    quiet = process.getActiveResourcesInfo().some(isFileRequest) ? 0 : quiet + 1;
  }
}

/** Disk requests, and child processes (a cell checks its databases in one before it opens them: store/db-check.ts). */
const isFileRequest = (resource: string) => resource.startsWith('FSReq') || resource === 'CloseReq' || resource === 'ProcessWrap';

/** Real milliseconds a SimClock waits for outside work when no timer is pending, before it gives up on a condition. */
const IDLE_WAIT_MS = 1;
const IDLE_WAITS_MAX = 2_000;

/**
 * Simulated time: advances only on advance(ms), firing due callbacks in time
 * order; or, with run()/runUntil(), from timer to timer while real
 * asynchronous work settles in between (discrete-event simulation).
 */
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
    this.advanceTo(this.current + ms);
  }

  /** When the earliest timer falls due, or null when none is set. */
  nextTimerAtMs(): number | null {
    let at: number | null = null;
    for (const t of this.timers.values()) if (at === null || t.at < at) at = t.at;
    return at;
  }

  /** Runs ms of simulated time, letting I/O and promises settle after each timer (see runUntil). */
  async run(ms: number, settle: () => Promise<void> = ioSettled): Promise<void> {
    const end = this.current + ms;
    for (;;) {
      await settle();
      if (this.current >= end) return;
      this.advanceTo(Math.min(this.nextTimerAtMs() ?? end, end));
    }
  }

  /**
   * Moves from one due timer to the next, and after each lets real work
   * settle (settle: by default until no disk I/O is pending) and checks
   * done(); stops when done() holds (true) or after msMax of simulated time
   * (false). With no timer set, nothing simulated can happen: it waits a
   * little real time for outside work instead, then gives up.
   */
  async runUntil(done: () => boolean | Promise<boolean>, msMax: number, settle: () => Promise<void> = ioSettled): Promise<boolean> {
    const end = this.current + msMax;
    for (let idle = 0; ; ) {
      await settle();
      if (await done()) return true;
      if (this.current >= end) return false;
      const next = this.nextTimerAtMs();
      if (next === null) {
        if (++idle > IDLE_WAITS_MAX) return false;
        await new Promise<void>((resolve) => setTimeout(resolve, IDLE_WAIT_MS));
        continue;
      }
      idle = 0;
      this.advanceTo(Math.min(next, end));
    }
  }

  /** Runs simulated time until p settles (or msMax passes: then throws), and returns what p gave. */
  async runWhile<T>(p: Promise<T>, msMax: number, settle: () => Promise<void> = ioSettled): Promise<T> {
    let isSettled = false;
    const watched = p.finally(() => (isSettled = true));
    watched.catch(() => undefined);
    if (!(await this.runUntil(() => isSettled, msMax, settle))) throw new Error(`still pending after ${msMax} simulated ms`);
    return watched;
  }

  private advanceTo(end: number): void {
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
    this.current = Math.max(this.current, end);
  }

  private add(fn: () => void, ms: number, everyMs: number | null): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.current + Math.max(0, ms), fn, everyMs });
    return { clear: () => this.timers.delete(id) };
  }
}
