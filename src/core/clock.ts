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

/** Fires first: the earlier due time, and of two due at once the one set first. */
const firesBefore = (a: SimTimer, b: SimTimer) => a.at < b.at || (a.at === b.at && a.id < b.id);

/**
 * A binary min-heap of timers in firing order: the next timer in O(1), a
 * timer set or fired in O(log n), where a scan of every timer would make a
 * 10,000-cell simulation quadratic. A cleared timer stays in the heap until
 * it reaches the top or the heap is compacted (SimClock.clear).
 */
class TimerHeap {
  private items: SimTimer[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): SimTimer | undefined {
    return this.items[0];
  }

  push(t: SimTimer): void {
    const items = this.items;
    let i = items.push(t) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!firesBefore(t, items[parent]!)) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = t;
  }

  pop(): SimTimer | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) this.siftDown(last, 0);
    return top;
  }

  /** Keeps only the timers keep() accepts (cleared ones dropped), in heap order again. */
  retain(keep: (t: SimTimer) => boolean): void {
    const kept = this.items.filter(keep);
    this.items = kept;
    for (let i = (kept.length >> 1) - 1; i >= 0; i--) this.siftDown(kept[i]!, i);
  }

  private siftDown(t: SimTimer, from: number): void {
    const items = this.items;
    const n = items.length;
    let i = from;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && firesBefore(items[child + 1]!, items[child]!)) child++;
      if (!firesBefore(items[child]!, t)) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = t;
  }
}

/** Cleared timers the heap may hold beyond the live ones before it is compacted: bounds their memory to about twice the live timers. */
const CLEARED_TIMERS_SLACK = 1_024;

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
  /** The live timers by id; the heap may also hold cleared ones, skipped when they come up. */
  private readonly timers = new Map<number, SimTimer>();
  private readonly heap = new TimerHeap();

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
    return this.nextLive()?.at ?? null;
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
      const due = this.nextLive();
      if (!due || due.at > end) break;
      this.heap.pop();
      this.current = Math.max(this.current, due.at);
      if (due.everyMs === null) this.timers.delete(due.id);
      else {
        // Re-armed before it runs, keeping its id: an interval that clears itself in fn stays cleared.
        due.at += due.everyMs;
        this.heap.push(due);
      }
      due.fn();
    }
    this.current = Math.max(this.current, end);
  }

  /** The earliest live timer, cleared ones on top of the heap discarded on the way. */
  private nextLive(): SimTimer | undefined {
    for (let t = this.heap.peek(); t; t = this.heap.peek()) {
      if (this.timers.has(t.id)) return t;
      this.heap.pop();
    }
    return undefined;
  }

  private add(fn: () => void, ms: number, everyMs: number | null): TimerHandle {
    const t: SimTimer = { id: this.nextId++, at: this.current + Math.max(0, ms), fn, everyMs };
    this.timers.set(t.id, t);
    this.heap.push(t);
    return { clear: () => this.clear(t.id) };
  }

  private clear(id: number): void {
    if (!this.timers.delete(id)) return;
    if (this.heap.size > 2 * this.timers.size + CLEARED_TIMERS_SLACK) this.heap.retain((t) => this.timers.has(t.id));
  }
}
