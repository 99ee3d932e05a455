import { CellError, HAS_KEYS_MAX, chunkKeyOf, logger, type Addr, type ChunkKey } from '../core/index.js';
import type { Inode, RecordEnvelope } from '../namespace/index.js';
import { Messages, parseVersionStamp } from '../wire/index.js';
import { listChunks, scanRecords } from './inventory.js';
import { decodeManifest, type Manifest } from './manifest.js';
import type { MemberView, SwarmClient } from './swarm-client.js';

const log = logger('client:gc');

/** Manifests read at once. */
const READS_IN_FLIGHT = 8;
/** Marks tried before giving up while cells keep handing records over to their homes. */
const MARK_TRIES = 3;

/** The grace period unless one is given: chunks stored or reused within the last hour are kept. */
export const GC_GRACE_DEFAULT_MS = 3_600_000;
/**
 * The shortest grace period: a writer names what it stores or claims within
 * it (a mount commits within about 30 s and claims the chunks it keeps from
 * an earlier version at the commit; a put claims its chunks every minute).
 * Superseded chunks get this one: those only chunk maps list that a later
 * version of their inode replaced (a rewritten file's old chunks), which no
 * writer names again without claiming them first
 * (docs/decisions/0028-records-move-with-membership.md).
 */
export const GC_GRACE_MIN_MS = 5 * 60_000;
/** A chunk map counts as replaced only if its inode's newest version is this much younger than the map: wall clocks of writers and cells differ. */
const CLOCK_SKEW_MARGIN_MS = 60_000;

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
  /** Distinct garbage chunks that were superseded (their shorter grace period applied). */
  superseded: number;
}

/**
 * Garbage collection, mark and sweep, run by a client (`cellsync gc`).
 * Mark: every cell lists its chunks and its inode records; of each inode
 * the versions counted are the newest any cell holds and those superseded
 * within the grace period (countedInodes): a stale copy on a cell the
 * record has moved away from keeps nothing alive once its tombstone or a
 * newer version exists anywhere. Live are the chunk maps the counted
 * versions name, manifests no mount wrote (`cellsync put`: kept for good),
 * and every chunk these list. A cell that drops records it handed over to
 * their new homes during the mark could hide a record from it: then the
 * mark runs again (markRecords).
 * Sweep: each holder of any other chunk removes its copy unless it was
 * stored or put again within the grace period, which covers writes under
 * way (chunks are stored before the record that names them; a mount commits
 * open files every 30 s). A mount's chunk map no counted version names was
 * replaced if its inode has a version newer than the map's last store
 * (asked of its holders): it, and the chunks only replaced maps list, get
 * the shortest grace (GC_GRACE_MIN_MS). Any other unnamed map may be a
 * commit whose record is still on its way: it and its chunks get the full one.
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
  // A cell stopped on purpose holds records and chunks no one can read now, like a dead one.
  const left = members.filter((m) => m.state === 'left');
  if (left.length > 0 && !opts.allowDead) {
    throw new CellError('NOT_ENOUGH_CELLS', `${names(left)} stopped on purpose (left the swarm): records only it holds would go unseen. Start it again; if it is gone for good, retire it with "cellsync cell forget" (or pass --allow-dead for this run)`);
  }
  const cells = members.filter((m) => m.state !== 'dead' && m.state !== 'left');

  // Mark: what each cell holds, and the chunk maps the counted inode versions name.
  const { holders, named, newestMs } = await markRecords(client, cells, client.clock.wallNow() - opts.graceMs);
  const live = new Set<ChunkKey>();
  /** Chunk maps of a mount that no counted version names, with the chunks they list. */
  const replacedMaps: { key: ChunkKey; inode: string; chunks: ChunkKey[] }[] = [];
  const unnamed = [...holders].filter(([k, h]) => h.isManifest && !named.has(k)).map(([k]) => k);
  await inTurn([...named, ...unnamed], READS_IN_FLIGHT, async (key) => {
    const m = await readManifest(client, key, holders.get(key)?.addrs ?? []);
    // A mount's chunk map that no inode names any more is garbage; any other manifest is a root.
    if (!named.has(key) && m.inode !== undefined) {
      replacedMaps.push({ key, inode: m.inode, chunks: [...m.chunks.keys()] });
      return;
    }
    live.add(key);
    for (const c of m.chunks.stored()) live.add(c.key);
  });

  const garbage = [...holders.keys()].filter((k) => !live.has(k));
  const superseded = await supersededChunks(client, replacedMaps, newestMs, holders);
  const report: GcReport = { cells: cells.length, chunks: holders.size, garbage: garbage.length, copiesRemoved: 0, bytesFreed: 0, copiesKept: 0, superseded: 0 };
  const supersededGraceMs = Math.min(opts.graceMs, GC_GRACE_MIN_MS);

  // Sweep: each holder removes its copies that are old enough (in a dry run, says which it would remove).
  const byCell = new Map<string, { addr: Addr; minAgeMs: number; keys: ChunkKey[] }>();
  for (const k of garbage) {
    const minAgeMs = superseded.has(k) ? supersededGraceMs : opts.graceMs;
    if (superseded.has(k)) report.superseded++;
    for (const addr of holders.get(k)!.addrs) {
      const slot = `${addr} ${minAgeMs}`;
      if (!byCell.has(slot)) byCell.set(slot, { addr, minAgeMs, keys: [] });
      byCell.get(slot)!.keys.push(k);
    }
  }
  await Promise.all(
    [...byCell.values()].map(async ({ addr, minAgeMs, keys }) => {
      for (let i = 0; i < keys.length; i += HAS_KEYS_MAX) {
        const batch = keys.slice(i, i + HAS_KEYS_MAX);
        let freed: number[] | null = null;
        try {
          freed = await client.endpoint.call(addr, Messages.CHUNK_COLLECT, { minAgeMs, keys: batch, dryRun: opts.dryRun ?? false }, { timeoutMs: 30_000 });
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
 * The chunk maps among `maps` that a later version of their inode replaced,
 * with the chunks that only such maps list: a map is replaced when its
 * inode's newest version is younger than the map's last store or claim on
 * every holder (a dry-run collect with that age answers it). A map stored
 * since (a commit whose record is on its way) is not, nor what it lists.
 */
async function supersededChunks(
  client: SwarmClient,
  maps: { key: ChunkKey; inode: string; chunks: ChunkKey[] }[],
  newestMs: Map<string, number>,
  holders: Map<ChunkKey, { addrs: Addr[] }>,
): Promise<Set<ChunkKey>> {
  const replaced = new Set<ChunkKey>();
  const pending = new Set<ChunkKey>();
  await inTurn(maps, READS_IN_FLIGHT, async (m) => {
    const versionMs = newestMs.get(m.inode);
    const minAgeMs = versionMs === undefined ? -1 : client.clock.wallNow() - (versionMs - CLOCK_SKEW_MARGIN_MS);
    const addrs = holders.get(m.key)?.addrs ?? [];
    let old = minAgeMs > 0 && addrs.length > 0;
    for (const addr of old ? addrs : []) {
      const answer = await client.endpoint.call(addr, Messages.CHUNK_COLLECT, { minAgeMs, keys: [m.key], dryRun: true }).catch(() => [0]);
      old &&= (answer[0] ?? 0) > 0;
    }
    if (old) replaced.add(m.key);
    else pending.add(m.key);
  });
  const out = new Set(replaced);
  for (const m of maps) if (replaced.has(m.key)) for (const c of m.chunks) out.add(c);
  for (const m of maps) if (pending.has(m.key)) for (const c of m.chunks) out.delete(c);
  return out;
}

/** Who holds each chunk, the chunk maps the counted inode versions name, and each inode's newest version (wall ms; see collectGarbage). */
async function markRecords(
  client: SwarmClient,
  cells: MemberView[],
  supersededBeforeMs: number,
): Promise<{ holders: Map<ChunkKey, { addrs: Addr[]; isManifest: boolean }>; named: Set<ChunkKey>; newestMs: Map<string, number> }> {
  for (let attempt = 1; ; attempt++) {
    const droppedBefore = await recordsDropped(client, cells);
    const holders = new Map<ChunkKey, { addrs: Addr[]; isManifest: boolean }>();
    const inodes: RecordEnvelope[] = [];
    await Promise.all(
      cells.map(async (m) => {
        let chunks, records;
        try {
          [chunks, records] = await Promise.all([listChunks(client, m.addr), scanRecords(client, m.addr, 'i/')]);
        } catch (err) {
          throw new CellError('NO_CELL_REACHABLE', `${names([m])} not listing its chunks and records (${(err as Error).message}): nothing removed`);
        }
        for (const { key, meta } of chunks) {
          const h = holders.get(key) ?? { addrs: [], isManifest: false };
          h.addrs.push(m.addr);
          h.isManifest ||= meta.isManifest;
          holders.set(key, h);
        }
        for (const r of records) inodes.push(r); // not spread: a cell's 100,000 records overflow the stack
      }),
    );
    // A record handed over and dropped between the scans of its new home and its old one was seen by neither.
    if ((await recordsDropped(client, cells)) !== droppedBefore) {
      if (attempt >= MARK_TRIES) throw new CellError('BUSY', 'cells kept handing namespace records over to their new homes during the mark: nothing removed; try again');
      log('records moved during the mark: marking again');
      continue;
    }
    const named = new Set<ChunkKey>();
    const newestMs = new Map<string, number>();
    for (const r of countedInodes(inodes, supersededBeforeMs)) {
      const manifest = (r.d as Partial<Inode> | null)?.manifest;
      if (typeof manifest === 'string') named.add(manifest);
      const ms = parseVersionStamp(r.v)?.wallMs ?? 0;
      const ino = r.k.slice(2);
      newestMs.set(ino, Math.max(ms, newestMs.get(ino) ?? 0));
    }
    return { holders, named, newestMs };
  }
}

/** Every cell's count of records dropped after handing them over (heal), as one string to compare. */
async function recordsDropped(client: SwarmClient, cells: MemberView[]): Promise<string> {
  const counts = await Promise.all(
    cells.map(async (m) => {
      try {
        const s = await client.endpoint.call(m.addr, Messages.STATUS, undefined);
        return `${s.id}:${s.heal.recordsDropped}`;
      } catch (err) {
        throw new CellError('NO_CELL_REACHABLE', `${names([m])} not answering STATUS (${(err as Error).message}): nothing removed`);
      }
    }),
  );
  return counts.join();
}

/**
 * The inode versions garbage collection counts, from the copies every cell
 * holds: of each key the newest, and each older one whose successor is newer
 * than `supersededBeforeMs` (wall ms of its version stamp), as a write may be
 * undone or a reader still hold the version it replaced. Versions superseded
 * earlier, a live copy older than a tombstone included, count for nothing.
 */
export function countedInodes(copies: Iterable<RecordEnvelope>, supersededBeforeMs: number): RecordEnvelope[] {
  const byKey = new Map<string, RecordEnvelope[]>();
  for (const r of copies) {
    const list = byKey.get(r.k);
    if (list) list.push(r);
    else byKey.set(r.k, [r]);
  }
  const counted: RecordEnvelope[] = [];
  for (const versions of byKey.values()) {
    versions.sort((a, b) => (a.v < b.v ? 1 : a.v > b.v ? -1 : 0));
    counted.push(versions[0]!);
    for (let i = 1; i < versions.length; i++) {
      if (versions[i]!.v === versions[i - 1]!.v) continue;
      const successorMs = parseVersionStamp(versions[i - 1]!.v)?.wallMs ?? Infinity;
      if (successorMs < supersededBeforeMs) break;
      counted.push(versions[i]!);
    }
  }
  return counted;
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
