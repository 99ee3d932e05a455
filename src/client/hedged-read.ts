import { isCellError, type Addr, type Clock, type TimerHandle } from '../core/index.js';
import type { ReadHedgePolicy } from './read-hedge.js';

/** What a hedged read tells the client about the replicas it asked (SwarmClient implements it). */
export interface ReplicaHealth {
  isShunned(addr: Addr): boolean;
  /** The replica did not answer within its hedge delay: tried last for a while. */
  noteLate(addr: Addr): void;
  /** A request to it failed (a timeout shuns it). */
  noteFailure(addr: Addr, err: unknown): void;
  /** It answered (anything): no longer shunned. */
  noteAnswered(addr: Addr): void;
}

export interface AskOptions {
  timeoutMs: number;
  signal: AbortSignal;
  onProgress: () => void;
}

export interface HedgedReadComponents<M extends { addr: Addr }> {
  clock: Clock;
  policy: ReadHedgePolicy;
  health: ReplicaHealth;
  /** Sends the read to one replica; resolves with verified bytes, rejects with a CellError (a bad copy included). */
  ask: (replica: M, opts: AskOptions) => Promise<Buffer>;
}

export interface HedgedReadResult<M> {
  /** The first verified answer, or null if every replica failed. */
  data: Buffer | null;
  /** Replicas that only timed out (they may be slow rather than gone). */
  timedOut: M[];
  lastError: unknown;
}

interface Attempt<M> {
  replica: M;
  abort: AbortController;
  sentMs: number;
  /** When the last frame of its answer came (-Infinity: none yet). */
  progressMs: number;
  timer: TimerHandle | null;
}

/**
 * Reads from replicas in the given order, at most two at a time: the next
 * replica is asked when one fails, or when the one asked last has been
 * silent for its hedge delay (no first frame, or no next frame of an answer
 * under way), if the policy's budget allows (always, away from a replica
 * already shunned). The first verified answer wins and the other request is
 * cancelled. A replica silent past its deadline (a few hedge delays) is
 * given up on. However the failure detector sees a dead or hung replica,
 * a read waits for it one hedge delay at most, and a replica late once is
 * shunned, so the reads after it do not wait for it at all.
 */
export function hedgedRead<M extends { addr: Addr }>(c: HedgedReadComponents<M>, order: M[]): Promise<HedgedReadResult<M>> {
  const { clock, policy, health } = c;
  policy.noteRead();
  return new Promise((resolve) => {
    const running = new Set<Attempt<M>>();
    const timedOut: M[] = [];
    let lastError: unknown = null;
    let next = 0;
    let done = false;

    const finish = (data: Buffer | null) => {
      done = true;
      for (const a of running) {
        a.timer?.clear();
        a.abort.abort();
      }
      running.clear();
      resolve({ data, timedOut, lastError });
    };
    const end = (a: Attempt<M>) => {
      a.timer?.clear();
      running.delete(a);
    };
    const progress = (a: Attempt<M>) => {
      const now = clock.now();
      if (a.progressMs === -Infinity) {
        policy.noteAnswerTime(a.replica.addr, now - a.sentMs);
        health.noteAnswered(a.replica.addr);
      }
      a.progressMs = now;
    };
    const late = (a: Attempt<M>, delayMs: number) => {
      a.timer = null;
      if (done || !running.has(a)) return;
      const quietMs = clock.now() - Math.max(a.sentMs, a.progressMs);
      // Answering, only not done yet: look again once it has been quiet for a whole delay.
      if (quietMs < delayMs) {
        a.timer = clock.setTimeout(() => late(a, delayMs), delayMs - quietMs);
        return;
      }
      // One hedge in flight at most; and none beyond the last replica.
      if (running.size > 1 || next >= order.length) return;
      if (!policy.takeHedge(health.isShunned(a.replica.addr))) return;
      health.noteLate(a.replica.addr);
      launch();
    };
    const launch = () => {
      if (done) return;
      if (next >= order.length) {
        if (running.size === 0) finish(null);
        return;
      }
      const replica = order[next++]!;
      const a: Attempt<M> = { replica, abort: new AbortController(), sentMs: clock.now(), progressMs: -Infinity, timer: null };
      running.add(a);
      const delayMs = policy.delayFor(replica.addr);
      a.timer = clock.setTimeout(() => late(a, delayMs), delayMs);
      c.ask(replica, { timeoutMs: policy.deadlineFor(replica.addr), signal: a.abort.signal, onProgress: () => progress(a) }).then(
        (data) => {
          if (done) return;
          end(a);
          finish(data);
        },
        (err: unknown) => {
          if (done) return;
          end(a);
          lastError = err;
          health.noteFailure(replica.addr, err);
          if (isCellError(err, 'TIMEOUT')) timedOut.push(replica);
          // In place of the one that failed (two in flight at most).
          launch();
        },
      );
    };
    launch();
  });
}
