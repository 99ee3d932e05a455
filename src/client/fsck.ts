import { CellError, isCellError, type Addr, type ChunkKey } from '../core/index.js';
import { isLiveStorage } from '../placement/index.js';
import { inTurn } from './gc.js';
import { listChunks } from './inventory.js';
import { decodeManifest, type Manifest } from './manifest.js';
import { NamespaceSnapshot } from './namespace-snapshot.js';
import type { SwarmClient } from './swarm-client.js';

/** A file (or a put) with a chunk short of copies: which chunks, and how many copies each has. */
export interface FileAtRisk {
  /** A mount's file: its path (null if no entry leads to it) and its ino. */
  path?: string | null;
  ino?: string;
  /** A file stored with `cellsync put`: its id. */
  put?: ChunkKey;
  /** Its chunk map (manifest) and chunks with fewer copies than their target: 0 copies is lost until a cell comes back. */
  chunks: { key: ChunkKey; copies: number; target: number }[];
}

export interface FsckReport {
  /** Distinct chunks in use: the chunk maps of current files and puts, and the chunks they list. */
  chunks: number;
  /** Exactly R live copies. */
  healthy: number;
  /** Fewer than R live copies, at least one. */
  underReplicated: number;
  /** In use, with no live copy. */
  missing: number;
  /** More than R live copies (removed by healing once R are confirmed). */
  overReplicated: number;
  /** Current files stored as chunks (their inode names a chunk map) and puts. */
  files: number;
  /** Chunks held that nothing current uses (old versions, removed files): gc frees them; not counted above. */
  unused: number;
  /** Files with a chunk under-replicated or missing, those with missing chunks first (at most AT_RISK_LISTED_MAX). */
  atRisk: FileAtRisk[];
  /** How many files are at risk in all. */
  atRiskFiles: number;
  /** Live storage cells that did not answer: their copies are not counted. */
  unreachableCells: string[];
  /**
   * Storage cells stopped on purpose ('left'), expected back: their copies are
   * not counted, so chunks they hold show as short of copies, not lost.
   */
  awayCells: string[];
  /** The tree checked (fsck PATH), or absent for the whole swarm. */
  path?: string;
}

/** Files at risk listed in a report: the count says how many there are in all. */
export const AT_RISK_LISTED_MAX = 1000;
/** Chunk maps read at once. */
const READS_IN_FLIGHT = 8;

interface Held {
  copies: number;
  replicas: number;
  isManifest: boolean;
}

/** A file to check: a mount's (by ino) or a put's, and its chunk map. */
interface Root {
  ino?: string;
  put?: ChunkKey;
  manifest: ChunkKey;
}

/**
 * What is at risk in the swarm (or under `path`): every live storage cell
 * lists its chunks and its namespace records; the current files are the
 * live inodes that name a chunk map (their newest version, merged as the
 * cells merge), plus the puts (manifests no mount wrote, kept for good).
 * Their chunk maps and the chunks they list are in use; each is checked
 * against its target R. Chunk maps of old versions, and what only they
 * list, are garbage for gc, not missing.
 */
export async function fsck(client: SwarmClient, opts: { path?: string } = {}): Promise<FsckReport> {
  return (await fsckWithSnapshot(client, opts)).report;
}

/** fsck, and the namespace it read (`cellsync info` of a directory reads its R and sizes there). */
export async function fsckWithSnapshot(client: SwarmClient, opts: { path?: string } = {}): Promise<{ report: FsckReport; snapshot: NamespaceSnapshot }> {
  const view = await client.members(true);
  const members = view.filter(isLiveStorage);
  const away = view.filter((m) => m.role === 'storage' && m.state === 'left').map((m) => m.addr);
  const holders = new Map<ChunkKey, Held>();
  const unreachable = new Set<Addr>();
  const listing = Promise.all(
    members.map(async (m) => {
      try {
        for (const e of await listChunks(client, m.addr)) {
          const h = holders.get(e.key) ?? { copies: 0, replicas: 0, isManifest: false };
          h.copies++;
          h.replicas = Math.max(h.replicas, e.meta.replicas);
          h.isManifest ||= e.meta.isManifest;
          holders.set(e.key, h);
        }
      } catch {
        unreachable.add(m.addr);
      }
    }),
  );
  const [{ snapshot, unreachable: noRecords }] = await Promise.all([NamespaceSnapshot.read(client, members.map((m) => m.addr)), listing]);
  for (const a of noRecords) unreachable.add(a);

  let inos: Set<string> | null = null;
  if (opts.path !== undefined) {
    const top = snapshot.resolve(opts.path);
    if (!top) throw new CellError('NO_ENTRY', `${opts.path}: no such file or directory in the swarm`);
    inos = snapshot.treeOf(top);
  }
  const roots: Root[] = [];
  const named = new Set<ChunkKey>();
  for (const [ino, inode] of snapshot.inodes) {
    if (typeof inode.manifest !== 'string') continue;
    named.add(inode.manifest);
    if (!inos || inos.has(ino)) roots.push({ ino, manifest: inode.manifest });
  }
  const manifests = new Map<ChunkKey, Manifest | null>();
  const read = async (key: ChunkKey) => {
    manifests.set(key, await readManifest(client, key));
  };
  // A manifest no inode names is a put (kept for good) or an old version's chunk map (garbage): its bytes tell.
  if (!inos) await inTurn([...holders].filter(([k, h]) => h.isManifest && !named.has(k)).map(([k]) => k), READS_IN_FLIGHT, read);
  for (const [key, m] of manifests) if (m && m.inode === undefined) roots.push({ put: key, manifest: key });
  await inTurn(roots.filter((r) => !manifests.has(r.manifest)).map((r) => r.manifest), READS_IN_FLIGHT, read);

  // In use: each root's chunk map and its chunks, with the highest R any holder records for them.
  const target = new Map<ChunkKey, number>();
  const use = (key: ChunkKey, replicas: number) => target.set(key, Math.max(target.get(key) ?? 0, replicas, holders.get(key)?.replicas ?? 0));
  for (const r of roots) {
    const replicas = holders.get(r.manifest)?.replicas ?? 0;
    use(r.manifest, replicas);
    for (const k of chunksOf(manifests.get(r.manifest))) use(k, replicas);
  }
  const report: FsckReport = { chunks: 0, healthy: 0, underReplicated: 0, missing: 0, overReplicated: 0, files: roots.length, unused: 0, atRisk: [], atRiskFiles: 0, unreachableCells: [...unreachable], awayCells: away };
  if (opts.path !== undefined) report.path = opts.path;
  for (const [k, want] of target) {
    report.chunks++;
    const copies = holders.get(k)?.copies ?? 0;
    if (copies === 0) report.missing++;
    else if (copies < want) report.underReplicated++;
    else if (copies > want) report.overReplicated++;
    else report.healthy++;
  }
  if (!inos) report.unused = [...holders.keys()].filter((k) => !target.has(k)).length;

  const atRisk: FileAtRisk[] = [];
  for (const r of roots) {
    const chunks = [r.manifest, ...chunksOf(manifests.get(r.manifest))]
      .filter((k, i, all) => all.indexOf(k) === i)
      .map((key) => ({ key, copies: holders.get(key)?.copies ?? 0, target: target.get(key)! }))
      .filter((c) => c.copies === 0 || c.copies < c.target);
    if (chunks.length === 0) continue;
    atRisk.push(r.put ? { put: r.put, chunks } : { path: snapshot.pathOf(r.ino!), ino: r.ino!, chunks });
  }
  const lost = (f: FileAtRisk) => (f.chunks.some((c) => c.copies === 0) ? 0 : 1);
  atRisk.sort((a, b) => lost(a) - lost(b));
  report.atRiskFiles = atRisk.length;
  report.atRisk = atRisk.slice(0, AT_RISK_LISTED_MAX);
  return { report, snapshot };
}

/**
 * The stored chunks a chunk map lists (holes are never stored); none if it
 * could not be read. The one place fsck walks a chunk list.
 */
function chunksOf(m: Manifest | null | undefined): ChunkKey[] {
  return m ? [...m.chunks.keys()] : [];
}

/** A manifest, or null if no copy can be read (its file is at risk: the map itself is counted missing or short). */
async function readManifest(client: SwarmClient, key: ChunkKey): Promise<Manifest | null> {
  try {
    return decodeManifest(await client.getChunk(key));
  } catch (err) {
    if (!isCellError(err)) throw err;
    return null;
  }
}
