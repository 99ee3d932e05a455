import type { Addr, ChunkKey, ChunkMeta } from '../core/index.js';
import { isEnvelope, type RecordEnvelope } from '../namespace/index.js';
import { LIST_LIMIT_MAX, MessageType, decodeJson, decodeListReply, encodeJson, encodeList } from '../wire/index.js';
import type { SwarmClient } from './swarm-client.js';

/** What one cell holds, asked page by page: for fsck, garbage collection and record scans. */

/** Records asked for per REC_SCAN page. */
const SCAN_PAGE = 512;

/** Every chunk a cell holds, with its metadata (CHUNK_LIST). Throws if the cell does not answer. */
export async function listChunks(client: SwarmClient, addr: Addr): Promise<{ key: ChunkKey; meta: ChunkMeta }[]> {
  const out: { key: ChunkKey; meta: ChunkMeta }[] = [];
  let after: ChunkKey | null = null;
  for (;;) {
    const page = decodeListReply(await client.endpoint.request(addr, MessageType.CHUNK_LIST, encodeList(after, LIST_LIMIT_MAX)));
    if (!page) throw new Error(`bad CHUNK_LIST answer from ${addr}`);
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
    const body = await client.endpoint.request(addr, MessageType.REC_SCAN, encodeJson({ prefix, after, limit: SCAN_PAGE }), timeoutMs ? { timeoutMs } : {});
    const page = decodeJson(body, (v) => (Array.isArray(v) ? v.filter(isEnvelope) : null));
    if (!page) throw new Error(`bad REC_SCAN answer from ${addr}`);
    out.push(...page);
    if (page.length < SCAN_PAGE) return out;
    after = page[page.length - 1]!.k;
  }
}
