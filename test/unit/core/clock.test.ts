import test from 'ava';
import { SimClock, seededRng, type TimerHandle } from '../../../src/core/index.js';

test('timers due at once fire in the order they were set, whatever their delays', (t) => {
  const clock = new SimClock();
  const fired: string[] = [];
  clock.setTimeout(() => fired.push('b'), 10);
  clock.advance(5);
  clock.setTimeout(() => fired.push('c'), 5); // due at 10 as b, set later
  clock.setTimeout(() => fired.push('a'), 4);
  clock.setTimeout(() => fired.push('zero'), 0);
  clock.advance(100);
  t.deepEqual(fired, ['zero', 'a', 'b', 'c']);
  t.is(clock.now(), 105);
});

test('an interval is re-armed from its due time and keeps its place among ties', (t) => {
  const clock = new SimClock();
  const fired: string[] = [];
  clock.setInterval(() => fired.push(`i@${clock.now()}`), 10);
  clock.setTimeout(() => fired.push(`t@${clock.now()}`), 20); // set after the interval: fires after it at 20
  clock.advance(35);
  t.deepEqual(fired, ['i@10', 'i@20', 't@20', 'i@30']);
});

test('a timer cleared by one firing before it never fires; an interval may clear itself', (t) => {
  const clock = new SimClock();
  const fired: string[] = [];
  let victim: TimerHandle | null = null;
  clock.setTimeout(() => {
    fired.push('killer');
    victim?.clear();
  }, 10);
  victim = clock.setTimeout(() => fired.push('victim'), 10);
  let count = 0;
  const interval: TimerHandle = clock.setInterval(() => {
    fired.push(`interval ${++count}`);
    if (count === 2) interval.clear();
  }, 7);
  clock.advance(100);
  t.deepEqual(fired, ['interval 1', 'killer', 'interval 2']);
  t.is(clock.nextTimerAtMs(), null);
});

test('a timer set while firing, due at once, fires in the same advance after those set before it', (t) => {
  const clock = new SimClock();
  const fired: string[] = [];
  clock.setTimeout(() => {
    fired.push('first');
    clock.setTimeout(() => fired.push('nested'), 0);
  }, 10);
  clock.setTimeout(() => fired.push('second'), 10);
  clock.advance(10);
  t.deepEqual(fired, ['first', 'second', 'nested']);
});

test('cleared timers do not pile up: the heap is compacted', (t) => {
  const clock = new SimClock();
  const keep = clock.setTimeout(() => undefined, 1_000_000);
  for (let i = 0; i < 100_000; i++) clock.setTimeout(() => undefined, 500_000 + i).clear();
  t.true((clock as unknown as { heap: { size: number } }).heap.size < 2_000);
  t.is(clock.nextTimerAtMs(), 1_000_000);
  keep.clear();
  t.is(clock.nextTimerAtMs(), null);
});

/** The firing order by definition: scan every live timer for the earliest (at, id), as SimClock did before its heap. */
class ScanClock {
  now = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { id: number; at: number; fn: () => void; everyMs: number | null }>();
  set(fn: () => void, ms: number, every: boolean): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.now + Math.max(0, ms), fn, everyMs: every ? Math.max(1, ms) : null });
    return { clear: () => this.timers.delete(id) };
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let due: { id: number; at: number; fn: () => void; everyMs: number | null } | undefined;
      for (const x of this.timers.values()) if (x.at <= end && (!due || x.at < due.at || (x.at === due.at && x.id < due.id))) due = x;
      if (!due) break;
      this.now = Math.max(this.now, due.at);
      if (due.everyMs === null) this.timers.delete(due.id);
      else due.at += due.everyMs;
      due.fn();
    }
    this.now = Math.max(this.now, end);
  }
}

test('a random workload fires in exactly the order of a scan of every timer', (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const logs: string[][] = [];
    for (const kind of ['heap', 'scan'] as const) {
      const rng = seededRng(seed);
      const heap = new SimClock();
      const scan = new ScanClock();
      const now = () => (kind === 'heap' ? heap.now() : scan.now);
      const set = (fn: () => void, ms: number, every: boolean) =>
        kind === 'heap' ? (every ? heap.setInterval(fn, ms) : heap.setTimeout(fn, ms)) : scan.set(fn, ms, every);
      const log: string[] = [];
      const handles: TimerHandle[] = [];
      let name = 0;
      const spawn = (): void => {
        const me = name++;
        const every = rng.next() < 0.2;
        const handle = set(
          () => {
            log.push(`${me}@${now()}`);
            // Firing sets new timers (often due at the same ms) and clears others, some of them due now.
            if (rng.next() < 0.5 && name < 3_000) spawn();
            if (rng.next() < 0.3 && handles.length > 0) handles[rng.int(handles.length)]!.clear();
            if (every && rng.next() < 0.1) handle.clear();
          },
          rng.int(4) * 5,
          every,
        );
        handles.push(handle);
      };
      for (let i = 0; i < 200; i++) spawn();
      for (let step = 0; step < 300; step++) {
        if (kind === 'heap') heap.advance(rng.int(12));
        else scan.advance(rng.int(12));
      }
      logs.push(log);
    }
    t.true(logs[0]!.length > 1_000, `seed ${seed}: a workload that fires`);
    t.deepEqual(logs[0], logs[1], `seed ${seed}`);
  }
});
