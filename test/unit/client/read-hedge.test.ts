import test from 'ava';
import { CellError, SimClock, defaultReadHedgeConfig, type Addr, type ReadHedgeConfig } from '../../../src/core/index.js';
import { hedgedRead, type AskOptions, type ReplicaHealth } from '../../../src/client/hedged-read.js';
import { ReadHedgePolicy } from '../../../src/client/read-hedge.js';

const config = (change: Partial<ReadHedgeConfig> = {}): ReadHedgeConfig => ({ ...defaultReadHedgeConfig(), ...change });

test('hedge delay: the initial one before any answer, then mean + 4 deviations of answer times, clamped to [min, max]', (t) => {
  const c = config({ delayInitialMs: 100, delayMinMs: 30, delayMaxMs: 200, deadlineDelays: 4 });
  const p = new ReadHedgePolicy(c);
  t.is(p.delayFor('a:1'), 100);
  t.is(p.deadlineFor('a:1'), 400);
  p.noteAnswerTime('a:1', 1); // loopback: the floor
  t.is(p.delayFor('a:1'), 30);
  t.is(p.delayFor('b:1'), 100, 'another replica keeps the initial delay');
  const slow = new ReadHedgePolicy(c);
  slow.noteAnswerTime('a:1', 40); // 40 + 4 x 20
  t.is(slow.delayFor('a:1'), 120);
  slow.noteAnswerTime('a:1', 1_000); // a disk stuck once: the ceiling
  t.is(slow.delayFor('a:1'), 200);
  t.is(slow.deadlineFor('a:1'), 800);
});

test('budget: a burst of budgetMax hedges, then budgetPerRead per read; hedges away from a shunned replica are free', (t) => {
  const p = new ReadHedgePolicy(config({ budgetMax: 2, budgetPerRead: 0.25 }));
  t.true(p.takeHedge(false));
  t.true(p.takeHedge(false));
  t.false(p.takeHedge(false));
  t.true(p.takeHedge(true), 'failover from a shunned replica');
  for (let i = 0; i < 3; i++) p.noteRead();
  t.false(p.takeHedge(false), '3 reads earn 0.75 of a hedge');
  p.noteRead();
  t.true(p.takeHedge(false));
  for (let i = 0; i < 100; i++) p.noteRead();
  t.true(p.takeHedge(false));
  t.true(p.takeHedge(false));
  t.false(p.takeHedge(false), 'the budget holds budgetMax at most');
  t.is(p.hedgesSent, 6);
  t.is(p.hedgesRefused, 3);
});

/** Replicas on a simulated clock: each answers after its delay (null: never), or fails with an error; an answer under way sends a frame every framesEveryMs (for framesForMs, if given). */
function harness(answers: Record<Addr, { afterMs: number | null; error?: Error; framesEveryMs?: number; framesForMs?: number }>, change: Partial<ReadHedgeConfig> = {}) {
  const clock = new SimClock();
  const policy = new ReadHedgePolicy(config(change));
  const shunned = new Set<Addr>();
  const asked: { addr: Addr; atMs: number }[] = [];
  const cancelled: Addr[] = [];
  const health: ReplicaHealth = {
    isShunned: (a) => shunned.has(a),
    noteLate: (a) => shunned.add(a),
    noteFailure: (a, err) => {
      if (err instanceof CellError && err.code === 'TIMEOUT') shunned.add(a);
    },
    noteAnswered: (a) => shunned.delete(a),
  };
  const ask = (r: { addr: Addr }, opts: AskOptions) =>
    new Promise<Buffer>((resolve, reject) => {
      asked.push({ addr: r.addr, atMs: clock.now() });
      const { afterMs, error, framesEveryMs, framesForMs } = answers[r.addr]!;
      const deadline = clock.setTimeout(() => reject(CellError.TIMEOUT(r.addr)), opts.timeoutMs);
      const sentMs = clock.now();
      const frames = framesEveryMs
        ? clock.setInterval(() => {
            deadline.clear();
            if (framesForMs === undefined || clock.now() - sentMs <= framesForMs) opts.onProgress();
          }, framesEveryMs)
        : null;
      const answer =
        afterMs === null
          ? null
          : clock.setTimeout(() => {
              deadline.clear();
              frames?.clear();
              opts.onProgress();
              if (error) reject(error);
              else resolve(Buffer.from(r.addr));
            }, afterMs);
      opts.signal.addEventListener('abort', () => {
        cancelled.push(r.addr);
        deadline.clear();
        frames?.clear();
        answer?.clear();
        reject(new CellError('TIMEOUT', 'aborted'));
      });
    });
  const read = async (order: Addr[]) => {
    const from = clock.now();
    const p = hedgedRead({ clock, policy, health, ask }, order.map((addr) => ({ addr })));
    const r = await clock.runWhile(p, 60_000, () => new Promise((res) => setImmediate(res)));
    return { ...r, tookMs: clock.now() - from, data: r.data?.toString() ?? null };
  };
  return { clock, policy, shunned, asked, cancelled, read };
}

test('a healthy first replica: no hedge, no extra request', async (t) => {
  const h = harness({ a: { afterMs: 5 }, b: { afterMs: 5 } });
  const r = await h.read(['a', 'b']);
  t.is(r.data, 'a');
  t.deepEqual(h.asked.map((x) => x.addr), ['a']);
  t.is(h.policy.hedgesSent, 0);
});

test('a silent first replica: the next is asked after its hedge delay, the silent one shunned and cancelled; the next read goes around it for free', async (t) => {
  const h = harness({ dead: { afterMs: null }, b: { afterMs: 5 }, c: { afterMs: 5 } }, { delayInitialMs: 100 });
  const r = await h.read(['dead', 'b', 'c']);
  t.is(r.data, 'b');
  t.is(r.tookMs, 105);
  t.deepEqual(h.asked, [{ addr: 'dead', atMs: 0 }, { addr: 'b', atMs: 100 }]);
  t.deepEqual(h.cancelled, ['dead']);
  t.true(h.shunned.has('dead'));
  t.is(h.policy.hedgesSent, 1);
  // A read that still starts at it (placement order not yet changed) hedges without spending the budget.
  h.policy.takeHedge(false);
  const budgetBefore = h.policy.hedgesRefused;
  const again = await h.read(['dead', 'c']);
  t.is(again.data, 'c');
  t.is(h.policy.hedgesRefused, budgetBefore);
});

test('at most one hedge in flight: two silent replicas are not hedged past, the third is asked when one times out', async (t) => {
  const h = harness({ x: { afterMs: null }, y: { afterMs: null }, z: { afterMs: 5 } }, { delayInitialMs: 100, deadlineDelays: 4 });
  const r = await h.read(['x', 'y', 'z']);
  t.is(r.data, 'z');
  t.deepEqual(h.asked, [{ addr: 'x', atMs: 0 }, { addr: 'y', atMs: 100 }, { addr: 'z', atMs: 400 }]);
  t.deepEqual(r.timedOut.map((m) => m.addr), ['x']);
});

test('a replica answering slowly is not hedged while frames keep coming; a fast failure moves on at once', async (t) => {
  const h = harness(
    { notHere: { afterMs: 3, error: CellError.CHUNK_NOT_FOUND('k') }, slow: { afterMs: 190, framesEveryMs: 20 }, c: { afterMs: 5 } },
    { delayInitialMs: 50 },
  );
  const r = await h.read(['notHere', 'slow', 'c']);
  t.is(r.data, 'slow');
  t.deepEqual(h.asked, [{ addr: 'notHere', atMs: 0 }, { addr: 'slow', atMs: 3 }]);
  t.is(h.policy.hedgesSent, 0, 'a failover after an error is no hedge');
  t.false(h.shunned.has('notHere'), 'an answer, even "not here", is no reason to shun');
});

test('the budget spent: a late replica is waited for (hedging never multiplies the traffic)', async (t) => {
  const h = harness({ late: { afterMs: 150 }, b: { afterMs: 5 } }, { delayInitialMs: 100, budgetMax: 1, budgetPerRead: 0 });
  h.policy.takeHedge(false);
  const r = await h.read(['late', 'b']);
  t.is(r.data, 'late');
  t.is(r.tookMs, 150);
  t.deepEqual(h.asked.map((x) => x.addr), ['late']);
  t.is(h.policy.hedgesRefused, 1);
  t.false(h.shunned.has('late'));
});

test('an answer that stops mid-way (a cell hung while sending) is hedged one delay after its last frame', async (t) => {
  const h = harness({ stuck: { afterMs: null, framesEveryMs: 10, framesForMs: 100 }, b: { afterMs: 5 } }, { delayInitialMs: 50 });
  const r = await h.read(['stuck', 'b']);
  t.is(r.data, 'b');
  // Its last frame at 100 ms; hedged one delay (the 50 ms it was given when asked) later, answered 5 ms after.
  t.deepEqual(h.asked, [{ addr: 'stuck', atMs: 0 }, { addr: 'b', atMs: 150 }]);
  t.is(r.tookMs, 155);
});

test('a shunned replica that answers is let back in', async (t) => {
  const h = harness({ back: { afterMs: 5 } });
  h.shunned.add('back');
  t.is((await h.read(['back'])).data, 'back');
  t.false(h.shunned.has('back'));
});

test('every replica failing: null, with the last error and those that timed out', async (t) => {
  const h = harness({ x: { afterMs: null }, y: { afterMs: 2, error: CellError.CHUNK_NOT_FOUND('k') } }, { delayInitialMs: 50, deadlineDelays: 2 });
  const r = await h.read(['x', 'y']);
  t.is(r.data, null);
  t.deepEqual(r.timedOut.map((m) => m.addr), ['x']);
  t.true(r.lastError instanceof CellError);
});
