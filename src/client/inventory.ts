import type { Addr, ChunkKey, ChunkMeta } from '../core/index.js';
import type { RecordEnvelope } from '../namespace/index.js';
import { LIST_LIMIT_MAX, Messages } from '../wire/index.js';
import type { SwarmClient } from './swarm-client.js';

/** What one cell holds, asked page by page: for fsck, garbage collection and record scans. */

/** Records asked for per REC_SCAN page. */
const SCAN_PAGE = 512;

/** Every chunk a cell holds, with its metadata (CHUNK_LIST). Throws if the cell does not answer. */
export async function listChunks(client: SwarmClient, addr: Addr): Promise<{ key: ChunkKey; meta: ChunkMeta }[]> {
  const out: { key: ChunkKey; meta: ChunkMeta }[] = [];
  let after: ChunkKey | null = null;
  for (;;) {
    const page: { key: ChunkKey; meta: ChunkMeta }[] = await client.endpoint.call(addr, Messages.CHUNK_LIST, { after, limit: LIST_LIMIT_MAX });
    out.push(...page);
    if (page.length < LIST_LIMIT_MAX) return out;
    after = page[page.length - 1]!.key;
  }
}

/** Every record a cell holds under a prefix, tombstones included (REC_SCAN). Throws if the cell does not answer. */
export async function scanRecords(client: SwarmClient, addr: Addr, prefix: string, timeoutMs?: number): Promise<RecordEnvelope[]> {
  const out: RecordEnvelope[] = [];
  let after: string | null = null;
  for (;;) {
    const page: RecordEnvelope[] = await client.endpoint.call(addr, Messages.REC_SCAN, { prefix, after, limit: SCAN_PAGE }, timeoutMs ? { timeoutMs } : {});
    out.push(...page);
    if (page.length < SCAN_PAGE) return out;
    after = page[page.length - 1]!.k;
  }
}
