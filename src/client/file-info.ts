import { CellError, HAS_KEYS_MAX, defaultConfig, isCellError, type Addr, type CellId, type ChunkKey } from '../core/index.js';
import type { Inode } from '../namespace/index.js';
import { isLiveStorage } from '../placement/index.js';
import { Messages } from '../wire/index.js';
import { fsckWithSnapshot } from './fsck.js';
import { decodeManifest, type Manifest } from './manifest.js';
import type { NamespaceSnapshot } from './namespace-snapshot.js';
import type { MemberView, SwarmClient } from './swarm-client.js';

/** One copy of a chunk, as the cell holding it answers (CHUNK_INFO). */
export interface CopyInfo {
  cell: CellId;
  addr: Addr;
  role: string;
  /** The cell's state in the membership view (alive, suspect). */
  state: string;
  /** R recorded with this copy: what this cell's heal keeps. */
  replicas: number;
  /** When this cell last hashed the whole copy and found it right (wall ms), or null if not known. */
  verifiedAtMs: number | null;
}

export interface ChunkInfo {
  /** Its place in the file (0-based), or null for the file's chunk map. */
  index: number | null;
  key: ChunkKey;
  /** Copies counted toward R: on live storage cells. */
  copies: number;
  holders: CopyInfo[];
}

/** 'healthy': every chunk has R copies or more; 'at-risk': one has fewer, at least one; 'lost': one has none. */
export type Health = 'healthy' | 'at-risk' | 'lost';

export interface FileInfo {
  kind: 'file';
  /** Its path in the swarm (a mount's file), or its put id. */
  path?: string;
  ino?: string;
  put?: ChunkKey;
  size: number;
  /** Copies kept of each chunk (R). */
  replicas: number;
  /** Where R comes from: the file's own (setr, or its directory's when it was made), or what its chunks record. */
  replicasFrom: 'file' | 'chunks';
  /** A small file's bytes are in its inode record (copied as records are), not in chunks. */
  inline: boolean;
  chunks: ChunkInfo[];
  health: Health;
  /** One line: "healthy: 3 of 3 copies of every chunk", "at risk: chunk 2 has 1 copy of 3". */
  summary: string;
  /** Cells that did not answer: their copies are not counted. */
  unreachableCells: Addr[];
}

export interface DirInfo {
  kind: 'dir';
  path: string;
  ino: string;
  /** The R given to what is made in it (setr), or null: the R of the mount that writes there. */
  replicas: number | null;
  /** Files in the tree (stored as chunks or inline), directories under it, and their bytes. */
  files: number;
  dirs: number;
  bytes: number;
  /** Distinct chunks its files use, those short of copies, those with none, and files with either. */
  chunks: number;
  chunksAtRisk: number;
  chunksLost: number;
  /** Chunks with more copies than R (heal frees the extra ones once the homes hold theirs). */
  chunksOverReplicated: number;
  filesAtRisk: number;
  health: Health;
  summary: string;
  unreachableCells: Addr[];
}

/** What `cellsync info` reports for a swarm path (of a file or a directory) or a put id. */
export async function pathInfo(client: SwarmClient, target: { path: string } | { put: ChunkKey }): Promise<FileInfo | DirInfo> {
  if ('put' in target) return putInfo(client, target.put);
  const { report, snapshot } = await fsckWithSnapshot(client, { path: target.path });
  const ino = snapshot.resolve(target.path)!;
  const inode = snapshot.inodes.get(ino)!;
  if (inode.type === 'dir') return dirInfo(snapshot, ino, inode, target.path, report);
  if (inode.type !== 'file') throw new CellError('BAD_REQUEST', `${target.path}: a ${inode.type}, not a file or directory: it has no data to copy (its inode record is the namespace's)`);
  const unreachable = new Set(report.unreachableCells);
  const manifest = typeof inode.manifest === 'string' ? inode.manifest : null;
  const info = await chunksInfo(client, manifest, unreachable);
  return fileInfoOf({ path: target.path, ino }, inode.size, inode.replicas ?? null, manifest === null, info, [...unreachable]);
}

async function putInfo(client: SwarmClient, id: ChunkKey): Promise<FileInfo> {
  const unreachable = new Set<Addr>();
  const info = await chunksInfo(client, id, unreachable);
  if (!info.manifest && info.chunks[0]!.holders.length === 0) throw new CellError('CHUNK_NOT_FOUND', `no file with id ${id} in this swarm (put prints the id of each file it stores)`);
  return fileInfoOf({ put: id }, info.manifest?.size ?? 0, null, false, info, [...unreachable]);
}

function fileInfoOf(name: { path?: string; ino?: string; put?: ChunkKey }, size: number, own: number | null, inline: boolean, info: { chunks: ChunkInfo[] }, unreachable: Addr[]): FileInfo {
  const recorded = Math.max(0, ...info.chunks.flatMap((c) => c.holders.map((h) => h.replicas)));
  const replicas = own ?? (recorded || defaultConfig().placement.replicas);
  const { health, summary } = healthOf(info.chunks, replicas, inline);
  return { kind: 'file', ...name, size, replicas, replicasFrom: own === null ? 'chunks' : 'file', inline, chunks: info.chunks, health, summary, unreachableCells: unreachable };
}

function healthOf(chunks: ChunkInfo[], replicas: number, inline: boolean): { health: Health; summary: string } {
  if (inline) return { health: 'healthy', summary: 'healthy: a small file, its bytes kept in its inode record (copied as the namespace is)' };
  const worst = chunks.reduce<ChunkInfo | null>((w, c) => (w === null || c.copies < w.copies ? c : w), null);
  const name = (c: ChunkInfo) => (c.index === null ? 'its chunk map' : `chunk ${c.index}`);
  if (!worst || worst.copies >= replicas) {
    const extra = chunks.filter((c) => c.copies > replicas).length;
    return { health: 'healthy', summary: `healthy: ${replicas} of ${replicas} copies of every chunk${extra > 0 ? ` (${extra} with extra copies: heal frees them)` : ''}` };
  }
  const short = chunks.filter((c) => c.copies < replicas).length;
  const others = short > 1 ? ` (${short} chunks short of copies)` : '';
  if (worst.copies === 0) return { health: 'lost', summary: `lost: ${name(worst)} has no copy on a live cell${others}` };
  return { health: 'at-risk', summary: `at risk: ${name(worst)} has ${worst.copies} cop${worst.copies === 1 ? 'y' : 'ies'} of ${replicas}${others}` };
}

function dirInfo(snapshot: NamespaceSnapshot, ino: string, inode: Inode, path: string, report: Awaited<ReturnType<typeof fsckWithSnapshot>>['report']): DirInfo {
  let files = 0;
  let dirs = 0;
  let bytes = 0;
  for (const i of snapshot.treeOf(ino)) {
    const node = snapshot.inodes.get(i);
    if (i === ino || !node) continue;
    if (node.type === 'dir') dirs++;
    else if (node.type === 'file') {
      files++;
      bytes += node.size;
    }
  }
  const chunksAtRisk = report.underReplicated + report.missing;
  const health: Health = report.missing > 0 ? 'lost' : chunksAtRisk > 0 ? 'at-risk' : 'healthy';
  const summary =
    health === 'healthy'
      ? `healthy: every chunk of its ${report.files} stored files has its copies`
      : `${health === 'lost' ? 'lost' : 'at risk'}: ${report.atRiskFiles} files with chunks short of copies (${report.missing} chunks with none): fsck ${path} names them`;
  return {
    kind: 'dir',
    path,
    ino,
    replicas: inode.replicas ?? null,
    files,
    dirs,
    bytes,
    chunks: report.chunks,
    chunksAtRisk,
    chunksLost: report.missing,
    chunksOverReplicated: report.overReplicated,
    filesAtRisk: report.atRiskFiles,
    health,
    summary,
    unreachableCells: report.unreachableCells,
  };
}

/**
 * A file's chunk map (if any) and its chunks, each with the copies the
 * cells hold: every cell in view that is alive or suspect is asked
 * (CHUNK_INFO); copies on live storage cells count toward R.
 */
async function chunksInfo(client: SwarmClient, manifestKey: ChunkKey | null, unreachable: Set<Addr>): Promise<{ manifest: Manifest | null; chunks: ChunkInfo[] }> {
  if (manifestKey === null) return { manifest: null, chunks: [] };
  const manifest = await client.getChunk(manifestKey).then(decodeManifest, (err: unknown) => {
    if (isCellError(err)) return null;
    throw err;
  });
  const chunks: ChunkInfo[] = [{ index: null, key: manifestKey, copies: 0, holders: [] }];
  for (const c of manifest?.chunks.stored() ?? []) chunks.push({ index: c.index, key: c.key, copies: 0, holders: [] });
  const cells = (await client.members(true)).filter((m) => m.state === 'alive' || m.state === 'suspect');
  const keys = [...new Set(chunks.map((c) => c.key))];
  const copies = await askCopies(client, cells, keys, unreachable);
  const storage = new Set(cells.filter(isLiveStorage).map((m) => m.id));
  for (const c of chunks) {
    c.holders = copies.get(c.key) ?? [];
    c.copies = c.holders.filter((h) => storage.has(h.cell)).length;
  }
  return { manifest, chunks };
}

/** Each key's copies on `cells`, asked HAS_KEYS_MAX keys at a time; cells that do not answer go in `unreachable`. */
async function askCopies(client: SwarmClient, cells: MemberView[], keys: ChunkKey[], unreachable: Set<Addr>): Promise<Map<ChunkKey, CopyInfo[]>> {
  const out = new Map<ChunkKey, CopyInfo[]>();
  await Promise.all(
    cells.map(async (m) => {
      try {
        for (let i = 0; i < keys.length; i += HAS_KEYS_MAX) {
          const batch = keys.slice(i, i + HAS_KEYS_MAX);
          const answers = await client.endpoint.call(m.addr, Messages.CHUNK_INFO, batch);
          answers.forEach((a, j) => {
            if (!a.isHeld) return;
            const list = out.get(batch[j]!) ?? [];
            list.push({ cell: m.id, addr: m.addr, role: m.role, state: m.state, replicas: a.replicas, verifiedAtMs: a.verifiedAtMs });
            out.set(batch[j]!, list);
          });
        }
      } catch {
        unreachable.add(m.addr);
      }
    }),
  );
  for (const list of out.values()) list.sort((a, b) => a.cell.localeCompare(b.cell));
  return out;
}
