import { CellError, HAS_KEYS_MAX, chunkKeyOf, logger, type Addr, type ChunkKey } from '../core/index.js';
import type { Inode } from '../namespace/index.js';
import { Messages } from '../wire/index.js';
import { listChunks, scanRecords } from './inventory.js';
import { decodeManifest, type Manifest } from './manifest.js';
import type { SwarmClient } from './swarm-client.js';

const log = logger('client:gc');

/** Manifests read at once. */
const READS_IN_FLIGHT = 8;

/** The grace period unless one is given: chunks stored or reused within the last hour are kept. */
export const GC_GRACE_DEFAULT_MS = 3_600_000;

export interface GcOptions {
  /** Chunks stored or claimed (put again) more recently than this are kept: a writer may be about to name them. */
  graceMs: number;
  /** Find the garbage and what a run would remove, remove nothing. */
  dryRun?: boolean;
  /** Go on although cells are dead. Their records are not read, so only for cells that are gone for good. */
  allowDead?: boolean;
}

export interface GcReport {
  /** Cells whose chunks and records were read. */
  cells: number;
  /** Distinct chunks held. */
  chunks: number;
  /** Distinct chunks nothing references. */
  garbage: number;
  /** Copies removed and the bytes that freed (in a dry run: that would be removed, and would free). */
  copiesRemoved: number;
  bytesFreed: number;
  /** Copies of garbage kept because they were stored or claimed within the grace period (or a cell did not answer). */
  copiesKept: number;
}

/**
 * Garbage collection, mark and sweep, run by a client (`cellsync gc`).
 * Mark: every cell lists its chunks and its inode records (every version
 * any cell holds, so a record not yet merged everywhere still counts). Live
 * are the chunk maps those inodes name, manifests no mount wrote (`cellsync
 * put`: kept for good), and every chunk these list. Sweep: each holder of
 * any other chunk removes its copy unless it was stored or put again within
 * the grace period, which covers writes under way (chunks are stored before
 * the record that names them; a mount commits open files every 30 s).
 * Anything that cannot be read (a suspect cell, a manifest with no readable
 * copy) stops the collection before it removes anything.
 */
export async function collectGarbage(client: SwarmClient, opts: GcOptions): Promise<GcReport> {
  const members = await client.members(true);
  const suspect = members.filter((m) => m.state === 'suspect');
  if (suspect.length > 0) {
    throw new CellError('BUSY', `${names(suspect)} not answering heartbeats: garbage collection reads every cell; try again when it is alive or dead`);
  }
  const dead = members.filter((m) => m.state === 'dead');
  if (dead.length > 0 && !opts.allowDead) {
    throw new CellError(
      'NOT_ENOUGH_CELLS',
      `${names(dead)} dead: records that only a dead cell holds would go unseen. Start it again; if it is gone for good, retire it with "cellsync cell forget" (or pass --allow-dead for this run)`,
    );
  }
  const cells = members.filter((m) => m.state !== 'dead');

  // Mark: what each cell holds, and the chunk maps every inode record names.
  const holders = new Map<ChunkKey, { addrs: Addr[]; isManifest: boolean }>();
  const named = new Set<ChunkKey>();
  await Promise.all(
    cells.map(async (m) => {
      let chunks, inodes;
      try {
        [chunks, inodes] = await Promise.all([listChunks(client, m.addr), scanRecords(client, m.addr, 'i/')]);
      } catch (err) {
        throw new CellError('NO_CELL_REACHABLE', `${names([m])} not listing its chunks and records (${(err as Error).message}): nothing removed`);
      }
      for (const { key, meta } of chunks) {
        const h = holders.get(key) ?? { addrs: [], isManifest: false };
        h.addrs.push(m.addr);
        h.isManifest ||= meta.isManifest;
        holders.set(key, h);
      }
      for (const r of inodes) {
        const manifest = (r.d as Partial<Inode> | null)?.manifest;
        if (typeof manifest === 'string') named.add(manifest);
      }
    }),
  );
  const live = new Set<ChunkKey>();
  const unnamed = [...holders].filter(([k, h]) => h.isManifest && !named.has(k)).map(([k]) => k);
  await inTurn([...named, ...unnamed], READS_IN_FLIGHT, async (key) => {
    const m = await readManifest(client, key, holders.get(key)?.addrs ?? []);
    // A mount's chunk map that no inode names any more is garbage; any other manifest is a root.
    if (!named.has(key) && m.inode !== undefined) return;
    live.add(key);
    for (const c of m.chunks) if (c !== null) live.add(c);
  });

  const garbage = [...holders.keys()].filter((k) => !live.has(k));
  const report: GcReport = { cells: cells.length, chunks: holders.size, garbage: garbage.length, copiesRemoved: 0, bytesFreed: 0, copiesKept: 0 };

  // Sweep: each holder removes its copies that are old enough (in a dry run, says which it would remove).
  const byCell = new Map<Addr, ChunkKey[]>();
  for (const k of garbage) {
    for (const a of holders.get(k)!.addrs) {
      const list = byCell.get(a) ?? [];
      list.push(k);
      byCell.set(a, list);
    }
  }
  await Promise.all(
    [...byCell].map(async ([addr, keys]) => {
      for (let i = 0; i < keys.length; i += HAS_KEYS_MAX) {
        const batch = keys.slice(i, i + HAS_KEYS_MAX);
        let freed: number[] | null = null;
        try {
          freed = await client.endpoint.call(addr, Messages.CHUNK_COLLECT, { minAgeMs: opts.graceMs, keys: batch, dryRun: opts.dryRun ?? false }, { timeoutMs: 30_000 });
        } catch (err) {
          log('cell %s did not collect (%s): its copies stay until the next run', addr, (err as Error).message);
        }
        for (let j = 0; j < batch.length; j++) {
          const n = freed?.[j] ?? 0;
          if (n > 0) {
            report.copiesRemoved++;
            report.bytesFreed += n;
          } else report.copiesKept++;
        }
      }
    }),
  );
  return report;
}

/**
 * A manifest, read as any client reads a chunk or else from the cells that
 * listed it (a cell that is not a storage cell now, which readers skip).
 */
async function readManifest(client: SwarmClient, key: ChunkKey, holders: Addr[]): Promise<Manifest> {
  let data: Buffer | null = null;
  let why = '';
  try {
    data = await client.getChunk(key);
  } catch (err) {
    why = (err as Error).message;
    for (const addr of holders) {
      const answer = await client.endpoint.call(addr, Messages.CHUNK_GET, key).catch(() => null);
      if (answer && chunkKeyOf(answer) === key) {
        data = answer;
        break;
      }
    }
  }
  if (!data) throw new CellError('NO_CELL_REACHABLE', `manifest ${key} cannot be read (${why}): its chunks would look unused, so nothing was removed`);
  const m = decodeManifest(data);
  if (!m) throw new CellError('BAD_REQUEST', `chunk ${key} is flagged as a manifest but is not one: nothing removed`);
  return m;
}

/** Runs fn over items with at most `width` calls under way; the first failure stops it. */
export async function inTurn<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/** "cell 1a2b3c4d (127.0.0.1:7401) is", or "cells ... are". */
function names(ms: { id: string; addr: Addr }[]): string {
  const each = ms.map((m) => `${m.id.slice(0, 8)} (${m.addr})`).join(', ');
  return ms.length === 1 ? `cell ${each} is` : `cells ${each} are`;
}
