import { CellError, HAS_KEYS_MAX, isCellError, type Addr, type ChunkKey } from '../core/index.js';
import { HybridClock, RECORDS_PER_MESSAGE_MAX, inodeKey, type Inode, type RecordEnvelope } from '../namespace/index.js';
import { Messages } from '../wire/index.js';
import { inTurn } from './gc.js';
import { decodeManifest } from './manifest.js';
import { NamespaceSnapshot } from './namespace-snapshot.js';
import { RecordsClient } from './records-client.js';
import type { SwarmClient } from './swarm-client.js';

/** Chunk maps read at once. */
const READS_IN_FLIGHT = 8;

export interface SetReplicasReport {
  /** Inodes given the new R (a directory's tree: every directory and file in it). */
  inodes: number;
  /** Distinct chunks (chunk maps included) whose recorded R was set, and copies set on the cells. */
  chunks: number;
  copies: number;
  /** Chunk maps that could not be read: their chunks keep the R they had (setr again once the file is readable). */
  unreadableMaps: number;
  /** Cells that did not answer: their copies keep the R they had (setr again when they are back). */
  unreachableCells: Addr[];
}

/**
 * `cellsync setr`: R for a swarm path or a put. A directory's tree, every
 * inode in it, gets R in its record (what is made there later inherits it
 * from its directory); a file's chunks (and chunk map) get R recorded on
 * every cell holding a copy (CHUNK_SET_R). Nothing is copied or freed here:
 * each holder's heal brings the chunks to their new R at its next pass.
 */
export async function setReplicas(client: SwarmClient, target: { path: string } | { put: ChunkKey }, replicas: number, recordReplicas: number): Promise<SetReplicasReport> {
  const cells = (await client.members(true)).filter((m) => m.state === 'alive' || m.state === 'suspect');
  const maps: ChunkKey[] = [];
  let inodes = 0;
  if ('put' in target) maps.push(target.put);
  else {
    const { snapshot } = await NamespaceSnapshot.read(client, cells.filter((m) => m.role === 'storage').map((m) => m.addr));
    const top = snapshot.resolve(target.path);
    if (!top) throw new CellError('NO_ENTRY', `${target.path}: no such file or directory in the swarm`);
    const tree = [...snapshot.treeOf(top)].filter((ino) => {
      const t = snapshot.inodes.get(ino)?.type;
      return t === 'file' || t === 'dir';
    });
    inodes = await writeInodes(client, tree, replicas, recordReplicas);
    for (const ino of tree) {
      const m = snapshot.inodes.get(ino)?.manifest;
      if (typeof m === 'string') maps.push(m);
    }
  }
  const set = await setChunksReplicas(client, maps, replicas);
  if ('put' in target && set.unreadableMaps > 0) throw new CellError('CHUNK_NOT_FOUND', `no file with id ${target.put} could be read (put prints the id of each file it stores)`);
  return { inodes, ...set };
}

/**
 * Records R with the chunk maps `maps` and every chunk they list, on every
 * cell in view that holds a copy (CHUNK_SET_R): the mount's setxattr of a
 * file's R, and setr. Each holder's heal then makes or frees copies.
 */
export async function setChunksReplicas(client: SwarmClient, maps: ChunkKey[], replicas: number): Promise<Omit<SetReplicasReport, 'inodes'>> {
  const cells = (await client.members(true)).filter((m) => m.state === 'alive' || m.state === 'suspect');
  const keys = new Set<ChunkKey>();
  let unreadableMaps = 0;
  await inTurn(maps, READS_IN_FLIGHT, async (key) => {
    keys.add(key);
    const m = await client.getChunk(key).then(decodeManifest, (err: unknown) => {
      if (isCellError(err)) return null;
      throw err;
    });
    if (!m) unreadableMaps++;
    for (const k of m?.chunks.keys() ?? []) keys.add(k);
  });
  const unreachable: Addr[] = [];
  let copies = 0;
  const all = [...keys];
  await Promise.all(
    cells.map(async (m) => {
      try {
        for (let i = 0; i < all.length; i += HAS_KEYS_MAX) {
          const held = await client.endpoint.call(m.addr, Messages.CHUNK_SET_R, { replicas, keys: all.slice(i, i + HAS_KEYS_MAX) });
          copies += held.filter(Boolean).length;
        }
      } catch {
        unreachable.push(m.addr);
      }
    }),
  );
  return { chunks: keys.size, copies, unreadableMaps, unreachableCells: unreachable };
}

/**
 * Gives each inode R in its record: read at a quorum (the newest version),
 * written back with a later version, a batch at a time. An inode changed by
 * a mount at the same moment is last-writer-wins, as any two writers are.
 */
async function writeInodes(client: SwarmClient, inos: string[], replicas: number, recordReplicas: number): Promise<number> {
  const records = new RecordsClient(client, recordReplicas);
  const hlc = new HybridClock(client.clock, client.endpoint.id);
  let written = 0;
  for (let i = 0; i < inos.length; i += RECORDS_PER_MESSAGE_MAX) {
    const batch = inos.slice(i, i + RECORDS_PER_MESSAGE_MAX);
    const current = await records.getMany(batch.map(inodeKey));
    const updates: RecordEnvelope[] = [];
    for (const rec of current) {
      if (!rec?.d) continue;
      hlc.observe(rec.v);
      const inode = rec.d as Inode;
      if (inode.replicas === replicas) continue;
      updates.push({ k: rec.k, v: hlc.now(), d: { ...inode, replicas } satisfies Inode });
    }
    if (updates.length > 0) await records.put(updates);
    written += updates.length;
  }
  await records.drain();
  return written;
}
