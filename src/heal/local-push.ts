import { LRUCache } from 'lru-cache';
import { MEMBERS_MAX, machineId, type Addr, type CellId, type ChunkKey, type ChunkMeta, type Clock } from '../core/index.js';
import type { Endpoint } from '../rpc/index.js';
import { stageChunk, unstageChunk } from '../store/index.js';
import { Messages, type LocalGrant } from '../wire/index.js';

/** A cell's grant is asked for again after this long (ms): a cell restarted elsewhere must not keep an old answer. */
const GRANT_TTL_MS = 60_000;
const GRANT_TIMEOUT_MS = 1_000;

/**
 * Repair copies to a cell on this machine go as files (as a client's writes
 * do, docs/decisions/0003): the chunk, read and verified from this cell's
 * store, is written into the target's incoming directory and the target
 * adopts it (CHUNK_ADOPT, take). No fragments, MACs or reassembly: on a
 * loaded machine a 4 MiB push over loopback UDP cost ~10x a file write.
 * A cell on another machine (or whose grant did not come) gets a CHUNK_PUT.
 */
export class LocalPush {
  private readonly grants = new LRUCache<CellId, { grant: LocalGrant | null; untilMs: number }>({ max: MEMBERS_MAX });
  private readonly machine = machineId();

  constructor(private readonly components: { clock: Clock; endpoint: Endpoint }) {}

  /** The target's incoming directory if it is on this machine, else null (the caller sends over the network). */
  async incomingDirOf(id: CellId, addr: Addr, signal: AbortSignal): Promise<string | null> {
    const now = this.components.clock.now();
    let known = this.grants.get(id);
    if (!known || known.untilMs < now) {
      const grant = await this.components.endpoint.call(addr, Messages.LOCAL_GRANT, undefined, { timeoutMs: GRANT_TIMEOUT_MS, signal }).catch(() => null);
      known = { grant: grant && grant.machine === this.machine ? grant : null, untilMs: now + GRANT_TTL_MS };
      this.grants.set(id, known);
    }
    return known.grant?.incomingDir ?? null;
  }

  /** Leaves the chunk as a file in the target's incoming directory and has the target adopt it; the file goes whatever the outcome. */
  async push(addr: Addr, incomingDir: string, chunk: { key: ChunkKey; data: Buffer; meta: ChunkMeta; leafHashes: Buffer | null }, timeoutMs: number, signal: AbortSignal): Promise<void> {
    const name = await stageChunk(incomingDir, chunk.key, chunk.data, null);
    try {
      await this.components.endpoint.call(addr, Messages.CHUNK_ADOPT, { name, key: chunk.key, meta: chunk.meta, leafHashes: chunk.leafHashes ?? Buffer.alloc(0), take: true }, { timeoutMs, signal });
    } finally {
      unstageChunk(incomingDir, name);
    }
  }
}
