import { CellError, logger } from '../core/index.js';
import type { RecordEnvelope } from '../namespace/index.js';
import { Messages, encodeWhole } from '../wire/index.js';
import type { ReplacedRecord } from './local-disk.js';
import type { MemberView, SwarmClient } from './swarm-client.js';

const log = logger('client:records');

/** Runs a request on cells of `order` until `need` succeed (RecordsClient's quorum, for writes). */
export type Quorum = <T>(order: MemberView[], need: number, fn: (m: MemberView) => Promise<T>, partialOk: boolean, copies: number) => Promise<{ results: T[] }>;

/** One placement group of a write: its records and its live storage cells in placement order. */
export interface WriteGroup {
  recs: RecordEnvelope[];
  order: MemberView[];
}

/** A home that was not written before the write returned: it gets its copy later (RecordsClient's trailing copies). */
export interface Trailing {
  addr: MemberView['addr'];
  recs: RecordEnvelope[];
  bytes: number;
}

/** A group as the write goes: who it was sent to, who has it. */
interface Progress extends WriteGroup {
  encoded: Buffer;
  /** Homes on this machine written last, straight into their databases (at most a majority). */
  here: MemberView[];
  /** Every cell a REC_WRITE went to, with the request settling (failures included: a timed-out write may have been applied). */
  sent: Map<MemberView, Promise<unknown>>;
  /** Cells that acknowledged a REC_WRITE (a hedge may bring more than were needed). */
  acked: Set<MemberView>;
  /** Homes on this machine written, with what the write replaced there. */
  merged: Map<MemberView, ReplacedRecord[]>;
}

/**
 * Writes namespace records to a majority of each group's R homes, all or
 * nothing as the caller sees it (docs/decisions/0029-failed-writes-change-nothing.md):
 * 1. every group is checked to have a majority of homes in view before
 *    anything is written anywhere;
 * 2. homes over the network first (REC_WRITE, which a cell can undo);
 * 3. homes on this machine last, straight into their databases, once every
 *    group has its network share (a failed database falls back to the network);
 * 4. if any group still falls short, everything written is undone: each cell
 *    sent a REC_WRITE is sent a REC_UNDO once its request settled, and each
 *    local database restored, before the error is thrown.
 * Resolves with the homes to send trailing copies to.
 */
export async function writeAtQuorum(
  components: { swarm: SwarmClient; quorum: Quorum },
  init: { replicas: number; timeoutMs: number },
  groups: WriteGroup[],
): Promise<Trailing[]> {
  const { swarm, quorum } = components;
  const { replicas, timeoutMs } = init;
  const majority = Math.floor(replicas / 2) + 1;
  for (const g of groups) {
    const want = Math.min(replicas, g.order.length);
    if (want < majority) {
      throw new CellError('NOT_ENOUGH_CELLS', `only ${g.order.length} storage cell(s) reachable; the namespace needs ${majority} (a majority of R=${replicas}): nothing was written`);
    }
  }
  const progress: Progress[] = groups.map((g) => ({
    ...g,
    encoded: encodeWhole(Messages.REC_WRITE.request, g.recs),
    here: g.order.slice(0, replicas).filter((m) => swarm.recordsHere(m)).slice(0, majority),
    sent: new Map(),
    acked: new Set(),
    merged: new Map(),
  }));
  const send = (p: Progress) => (m: MemberView) => {
    const call = swarm.endpoint.call(m.addr, Messages.REC_WRITE, p.recs, { timeoutMs, encoded: p.encoded }).then(() => void p.acked.add(m));
    p.sent.set(m, call.catch(() => undefined));
    return call;
  };
  /** `need` more homes of the group over the network, among cells not written, asked, or left for the local phase. */
  const overNetwork = (p: Progress, need: number, left: MemberView[]) => {
    const order = p.order.filter((m) => !p.sent.has(m) && !p.merged.has(m) && !left.includes(m));
    return quorum(order, need, send(p), false, Math.max(need, replicas - p.sent.size - p.merged.size - left.length));
  };
  try {
    await settleAll(progress.map((p) => (p.here.length < majority ? overNetwork(p, majority - p.here.length, p.here) : null)));
    for (const p of progress) {
      for (const m of p.here) {
        const replaced = swarm.mergeRecordsHere(m, p.recs);
        if (replaced) p.merged.set(m, replaced);
      }
    }
    // A database here that could not be written: the rest of the majority over the network.
    const short = (p: Progress) => majority - p.acked.size - p.merged.size;
    await settleAll(progress.map((p) => (short(p) > 0 ? overNetwork(p, short(p), []) : null)));
  } catch (err) {
    await undo(swarm, progress, timeoutMs);
    throw err;
  }
  return progress.flatMap((p) =>
    p.order
      .slice(0, replicas)
      .filter((m) => !p.sent.has(m) && !p.merged.has(m))
      .map((m) => ({ addr: m.addr, recs: p.recs, bytes: p.encoded.length })),
  );
}

/** Waits for every promise (null: nothing to wait for) and throws the first failure, once all have settled. */
async function settleAll(running: (Promise<unknown> | null)[]): Promise<void> {
  const settled = await Promise.allSettled(running);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Undoes a write that fell short. Each REC_UNDO is sent once the REC_WRITE
 * to that cell has settled (an undo must not overtake its write); a cell
 * that kept nothing of it (never applied it) ignores it. A cell that does
 * not answer keeps the write: that is logged, and it is the one window left
 * (see the decision record).
 */
async function undo(swarm: SwarmClient, progress: Progress[], timeoutMs: number): Promise<void> {
  await Promise.all(
    progress.flatMap((p) => {
      const versions = p.recs.map(({ k, v }) => ({ k, v }));
      const remote = [...p.sent].map(async ([m, sending]) => {
        await sending;
        try {
          await swarm.endpoint.call(m.addr, Messages.REC_UNDO, versions, { timeoutMs });
        } catch (err) {
          log('undo of a failed record write on %s failed (it may keep %d records): %s', m.addr, versions.length, (err as Error).message);
        }
      });
      for (const [m, replaced] of p.merged) {
        if (!swarm.restoreRecordsHere(m, replaced)) log('undo of a failed record write in the database of %s failed (it may keep %d records)', m.addr, replaced.length);
      }
      return remote;
    }),
  );
}
