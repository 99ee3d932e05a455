import { CellError, logger, type Addr, type TimerHandle } from '../core/index.js';
import { newer, placementKeyOf, type RecordEnvelope } from '../namespace/index.js';
import { Messages } from '../wire/index.js';
import { scanRecords } from './inventory.js';
import { writeAtQuorum, type Quorum } from './records-write.js';
import type { MemberView, SwarmClient } from './swarm-client.js';

const log = logger('client:records');
const RECORD_TIMEOUT_MS = 1_500;
/** How long the first `need` cells have to answer before the other homes are asked too. */
const HEDGE_MS = 4;
/** After the storage cells change, records may take this long to reach their new homes (anti-entropy runs at once). */
const MOVING_WINDOW_MS = 30_000;
/** Copies for the homes beyond the majority wait this long to be batched with later writes... */
const TRAIL_MS = 50;
/** ...or until this many records, or bytes of them, are waiting for one cell. */
const TRAIL_RECORDS_MAX = 384;
const TRAIL_BYTES_MAX = 1024 * 1024;

/**
 * Quorum reads and writes of namespace records. A record group lives on the
 * first R live storage cells in placement order of its placement key; writes
 * need a majority of R acknowledgements (failing over to the next cells, like
 * chunk writes), reads merge a majority of answers and keep the newest.
 */
export class RecordsClient {
  /** Copies for the homes beyond the majority, batched per cell (bounded: sent at TRAIL_RECORDS_MAX or TRAIL_BYTES_MAX). */
  private readonly trailing = new Map<Addr, { records: RecordEnvelope[]; bytes: number; timer: TimerHandle }>();
  private readonly trailSends = new Set<Promise<void>>();

  constructor(private readonly swarm: SwarmClient, private readonly replicas: number) {}

  get majority(): number {
    return Math.floor(this.replicas / 2) + 1;
  }

  private async homes(recordKey: string): Promise<MemberView[]> {
    const order = await this.swarm.placementFor(placementKeyOf(recordKey));
    if (order.length === 0) throw new CellError('NO_CELL_REACHABLE', 'no storage cell is reachable');
    return order;
  }

  /**
   * Runs fn on the first R cells in order, replacing failures with later cells,
   * until `need` succeed. Only `need` cells are asked at first, the others if
   * an answer is late (a hedge) or a request fails: on two shared cores, a
   * third request in the critical path slows the two that matter.
   * With `partialOk` (reads), fewer answers than `need` but at least one are
   * returned rather than failing: when most homes of a record are down at
   * once, a possibly stale answer beats EIO. Writes never settle for less than
   * a majority of R, however few cells are in view.
   */
  private async quorum<T>(
    order: MemberView[],
    need: number,
    fn: (m: MemberView) => Promise<T>,
    partialOk = false,
    copies = this.replicas,
  ): Promise<{ results: T[] }> {
    const want = Math.min(copies, order.length);
    const required = partialOk ? Math.min(need, want) : need;
    if (want < required) {
      throw new CellError('NOT_ENOUGH_CELLS', `only ${order.length} storage cell(s) reachable; the namespace needs ${required} (a majority of R=${this.replicas})`);
    }
    const results: T[] = [];
    let next = 0;
    let lastError: unknown;
    let running = 0;
    let hedge: TimerHandle | null = null;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: Error) => {
        settled = true;
        hedge?.clear();
        if (err) reject(err);
        else resolve();
      };
      /**
       * After each answer or failure: done at `required`; else a failure (or
       * the last answer of those asked) has the next cells asked; with
       * nothing left running, a short result or an error. (The last to
       * settle may be an answer: a live home third in order.)
       */
      const afterSettle = (failed: boolean) => {
        if (settled) return;
        if (results.length >= required) return finish();
        if (failed || running === 0) launch(want);
        if (running > 0) return;
        if (partialOk && results.length > 0) {
          log('degraded read: %d of %d answers', results.length, required);
          return finish();
        }
        finish(new CellError('NO_CELL_REACHABLE', `only ${results.length} of ${required} cells answered for the namespace (${(lastError as Error | undefined)?.message})`));
      };
      const launch = (limit: number) => {
        while (!settled && running < limit - results.length && next < order.length) {
          const m = order[next++]!;
          running++;
          fn(m).then(
            (r) => {
              running--;
              results.push(r);
              this.swarm.noteAnswered(m.addr);
              afterSettle(false);
            },
            (err) => {
              running--;
              lastError = err;
              this.swarm.noteFailure(m.addr, err);
              log('record request to %s failed: %s', m.addr, (err as Error).message);
              afterSettle(true);
            },
          );
        }
      };
      launch(required);
      // On the swarm client's clock, as every timer its requests run on (simulated time in tests).
      hedge = this.swarm.clock.setTimeout(() => launch(want), HEDGE_MS);
    });
    return { results };
  }

  async get(key: string): Promise<RecordEnvelope | null> {
    return (await this.getMany([key]))[0] ?? null;
  }

  /**
   * Reads records (one group at a time in parallel), merging a majority of
   * answers per group. Shortly after the storage cells changed, a record the
   * majority lacks may not have reached its new homes yet: then the other
   * homes and the next cells in placement order are asked before "absent"
   * is believed.
   */
  async getMany(keys: string[]): Promise<(RecordEnvelope | null)[]> {
    const groups = new Map<string, number[]>();
    keys.forEach((k, i) => {
      const g = placementKeyOf(k);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g)!.push(i);
    });
    const out: (RecordEnvelope | null)[] = keys.map(() => null);
    await Promise.all(
      [...groups.values()].map(async (idx) => {
        const groupKeys = idx.map((i) => keys[i]!);
        const ask = async (m: MemberView) => {
          const records = await this.swarm.endpoint.call(m.addr, Messages.REC_GET, groupKeys, { timeoutMs: RECORD_TIMEOUT_MS });
          return { addr: m.addr, records };
        };
        const order = await this.homes(groupKeys[0]!);
        const results = await this.readQuorum(order, (m) => this.swarm.readRecordsHere(m, groupKeys), ask);
        const merge = (answers: { records: (RecordEnvelope | null)[] }[]) =>
          idx.forEach((i, j) => {
            for (const a of answers) out[i] = newer(out[i], a.records[j]);
          });
        merge(results);
        if (idx.some((i) => out[i] === null) && this.storageMoving()) merge(await this.askBeyond(order, results, ask));
      }),
    );
    return out;
  }

  /**
   * A majority of the homes' answers for a read (fewer when most are
   * unreachable, as quorum's partialOk). Homes on this machine whose
   * database this process can read are read straight from it first, as
   * they would answer (decision 0042): with a majority of homes here, a
   * read waits on no other process; the rest of the majority is asked over
   * the network (hedged as before), among the other cells in order.
   */
  private async readQuorum<R>(
    order: MemberView[],
    readHere: (m: MemberView) => R | null,
    ask: (m: MemberView) => Promise<{ addr: Addr; records: R }>,
  ): Promise<{ addr: Addr; records: R }[]> {
    const here: { addr: Addr; records: R }[] = [];
    for (const m of order.slice(0, this.replicas)) {
      if (here.length >= this.majority) break;
      if (!this.swarm.recordsHere(m)) continue;
      const records = readHere(m);
      if (records !== null) here.push({ addr: m.addr, records });
    }
    if (here.length >= this.majority) return here;
    const others = order.filter((m) => !here.some((h) => h.addr === m.addr));
    if (here.length > 0 && others.length === 0) return here;
    const { results } = await this.quorum(others, this.majority - here.length, ask, true, this.replicas - here.length);
    return [...here, ...results];
  }

  /**
   * True when the cells that answered may not be a record's homes: shortly
   * after the live storage cells changed (records may not have reached their
   * new homes yet), or while cells that timed out moments ago are put last
   * in placement order (then cells beyond the homes answer in their place,
   * and two of them saying "absent" outvoted the one home that had it).
   */
  private storageMoving(): boolean {
    return this.swarm.storageChangedWithin(MOVING_WINDOW_MS) || this.swarm.shunsAny();
  }

  /** Asks the cells among the first R + 2 in placement order that have not answered yet (nor timed out moments ago); failures are skipped. */
  private async askBeyond<T extends { addr: Addr }>(order: MemberView[], answered: T[], ask: (m: MemberView) => Promise<T>): Promise<T[]> {
    const seen = new Set(answered.map((a) => a.addr));
    const more = order.slice(0, this.replicas + 2).filter((m) => !seen.has(m.addr) && !this.swarm.isShunned(m.addr));
    return (await Promise.allSettled(more.map(ask))).flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  /**
   * Writes records, grouped by placement, each group to a majority of its
   * home cells, all or nothing (writeAtQuorum: a write that fails is undone);
   * the other homes get their copy a few ms later, batched with other
   * writes (one message instead of one per write, off the critical path).
   * If this process dies first, anti-entropy brings them the records. Homes
   * on this machine that share their database are written straight into it
   * (SwarmClient.mergeRecordsHere), after the others.
   */
  async put(records: RecordEnvelope[]): Promise<void> {
    const groups = new Map<string, RecordEnvelope[]>();
    for (const r of records) {
      const g = placementKeyOf(r.k);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g)!.push(r);
    }
    const planned = await Promise.all([...groups.values()].map(async (recs) => ({ recs, order: await this.homes(recs[0]!.k) })));
    const quorum: Quorum = (order, need, fn, partialOk, copies) => this.quorum(order, need, fn, partialOk, copies);
    const trailing = await writeAtQuorum({ swarm: this.swarm, quorum }, { replicas: this.replicas, timeoutMs: RECORD_TIMEOUT_MS }, planned);
    for (const t of trailing) this.trail(t.addr, t.recs, t.bytes);
  }

  private trail(addr: Addr, recs: RecordEnvelope[], bytes: number): void {
    let t = this.trailing.get(addr);
    if (!t) {
      t = { records: [], bytes: 0, timer: this.swarm.clock.setTimeout(() => void this.sendTrailing(addr), TRAIL_MS) };
      this.trailing.set(addr, t);
    }
    t.records.push(...recs);
    t.bytes += bytes;
    if (t.records.length >= TRAIL_RECORDS_MAX || t.bytes >= TRAIL_BYTES_MAX) void this.sendTrailing(addr);
  }

  private sendTrailing(addr: Addr): Promise<void> {
    const t = this.trailing.get(addr);
    if (!t) return Promise.resolve();
    this.trailing.delete(addr);
    t.timer.clear();
    const sent = this.swarm.endpoint.call(addr, Messages.REC_PUT, t.records, { timeoutMs: RECORD_TIMEOUT_MS }).then(
      () => undefined,
      (err: unknown) => log('trailing record write to %s failed (anti-entropy will bring them): %s', addr, (err as Error).message),
    );
    this.trailSends.add(sent);
    void sent.finally(() => this.trailSends.delete(sent));
    return sent;
  }

  /** Sends the batched copies now and waits for them (before the client closes). */
  async drain(): Promise<void> {
    await Promise.all([...this.trailing.keys()].map((a) => this.sendTrailing(a)));
    await Promise.all(this.trailSends);
  }

  /**
   * Every record under a prefix (one placement group), merged across a
   * majority of its home cells (shortly after the storage cells changed, also
   * the other homes and the next cells in placement order: see getMany).
   */
  async scan(prefix: string): Promise<RecordEnvelope[]> {
    const scanOne = async (m: MemberView) => ({ addr: m.addr, records: await scanRecords(this.swarm, m.addr, prefix, RECORD_TIMEOUT_MS) });
    const order = await this.homes(prefix + 'x');
    const results = await this.readQuorum(order, (m) => this.swarm.scanRecordsHere(m, prefix), scanOne);
    if (this.storageMoving()) results.push(...(await this.askBeyond(order, results, scanOne)));
    const merged = new Map<string, RecordEnvelope>();
    for (const { records } of results) for (const r of records) merged.set(r.k, newer(merged.get(r.k), r)!);
    return [...merged.values()];
  }

}
