import { CellError, logger } from '../core/index.js';
import { isEnvelope, newer, placementKeyOf, type RecordEnvelope } from '../namespace/index.js';
import { MessageType, decodeJson, encodeJson } from '../wire/index.js';
import type { MemberView, SwarmClient } from './swarm-client.js';

const log = logger('client:records');
const RECORD_TIMEOUT_MS = 1_500;

/**
 * Quorum reads and writes of namespace records. A record group lives on the
 * first R live storage cells in placement order of its placement key; writes
 * need a majority of R acknowledgements (failing over to the next cells, like
 * chunk writes), reads merge a majority of answers and keep the newest.
 */
export class RecordsClient {
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
   * until `need` succeed. With `partialOk` (reads), fewer answers than `need`
   * but at least one are returned rather than failing: when most homes of a
   * record are down at once, a possibly stale answer beats EIO.
   */
  private async quorum<T>(order: MemberView[], need: number, fn: (m: MemberView) => Promise<T>, partialOk = false): Promise<T[]> {
    const want = Math.min(this.replicas, order.length);
    const required = Math.min(need, want);
    const results: T[] = [];
    let next = 0;
    let lastError: unknown;
    await new Promise<void>((resolve, reject) => {
      let running = 0;
      let settled = false;
      const launch = () => {
        while (!settled && running < want - results.length && next < order.length) {
          const m = order[next++]!;
          running++;
          fn(m).then(
            (r) => {
              running--;
              results.push(r);
              if (!settled && results.length >= required) {
                settled = true;
                resolve();
              }
            },
            (err) => {
              running--;
              lastError = err;
              this.swarm.noteFailure(m.addr, err);
              log('record request to %s failed: %s', m.addr, (err as Error).message);
              launch();
              if (!settled && running === 0) {
                settled = true;
                if (partialOk && results.length > 0) {
                  log('degraded read: %d of %d answers', results.length, required);
                  return resolve();
                }
                reject(new CellError('NO_CELL_REACHABLE', `only ${results.length} of ${required} cells answered for the namespace (${(lastError as Error).message})`));
              }
            },
          );
        }
      };
      launch();
    });
    return results;
  }

  async get(key: string): Promise<RecordEnvelope | null> {
    return (await this.getMany([key]))[0] ?? null;
  }

  /** Reads records (one group at a time in parallel), merging a majority of answers per group. */
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
        const answers = await this.quorum(await this.homes(groupKeys[0]!), this.majority, async (m) => {
          const body = await this.swarm.endpoint.request(m.addr, MessageType.REC_GET, encodeJson(groupKeys), { timeoutMs: RECORD_TIMEOUT_MS });
          const list = decodeJson(body, (v) => (Array.isArray(v) && v.length === groupKeys.length ? v : null));
          if (!list) throw new Error('bad REC_GET answer');
          return list.map((r) => (isEnvelope(r) ? r : null));
        }, true);
        idx.forEach((i, j) => {
          for (const a of answers) out[i] = newer(out[i], a[j]);
        });
      }),
    );
    return out;
  }

  /** Writes records, grouped by placement, each group to a majority of its home cells. */
  async put(records: RecordEnvelope[]): Promise<void> {
    const groups = new Map<string, RecordEnvelope[]>();
    for (const r of records) {
      const g = placementKeyOf(r.k);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g)!.push(r);
    }
    await Promise.all(
      [...groups.values()].map(async (recs) => {
        const body = encodeJson(recs);
        await this.quorum(await this.homes(recs[0]!.k), this.majority, (m) =>
          this.swarm.endpoint.request(m.addr, MessageType.REC_PUT, body, { timeoutMs: RECORD_TIMEOUT_MS }),
        );
      }),
    );
  }

  /** Every record under a prefix (one placement group), merged across a majority of its home cells. */
  async scan(prefix: string): Promise<RecordEnvelope[]> {
    const merged = new Map<string, RecordEnvelope>();
    await this.quorum(await this.homes(prefix + 'x'), this.majority, async (m) => {
      let after: string | null = null;
      const seen: RecordEnvelope[] = [];
      for (;;) {
        const body = await this.swarm.endpoint.request(m.addr, MessageType.REC_SCAN, encodeJson({ prefix, after, limit: 512 }), {
          timeoutMs: RECORD_TIMEOUT_MS,
        });
        const page = decodeJson(body, (v) => (Array.isArray(v) ? v.filter(isEnvelope) : null));
        if (!page) throw new Error('bad REC_SCAN answer');
        seen.push(...page);
        if (page.length < 512) break;
        after = page[page.length - 1]!.k;
      }
      return seen;
    }, true).then((answers) => {
      for (const list of answers) for (const r of list) merged.set(r.k, newer(merged.get(r.k), r)!);
    });
    return [...merged.values()];
  }
}
