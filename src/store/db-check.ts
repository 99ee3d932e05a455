import { execFile } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/*
 * Checks of a cell's lmdb databases (meta.lmdb, records.lmdb) before lmdb
 * maps them. lmdb trusts its file: lmdb-js dies with SIGSEGV when opening a
 * truncated or garbage file fails (its error path frees what it never
 * made), and a walk over garbage pages may abort on an assertion, corrupt
 * the heap, or silently stop early. So: the two meta pages are read and
 * checked here (cheap, before every open), and at a cell's start a child
 * process walks every entry (db-walk.ts): a crash there costs a child, not
 * the cell. Nothing here imports core/: the hashing thread loads it (ChunkMetaReader).
 *
 * The meta page layout (lmdb-js's liblmdb, 64-bit, MDB_DATA_VERSION 2):
 *   page header, 24 bytes: pgno u64 @0, txnid u64 @8, pad u16 @16, flags u16 @18 (P_META = 0x08), lower/upper u16
 *   MDB_meta @24: magic u32 @24 (0xBEEFC0DE), version u32 @28 (low 16 bits = 2), address @32, mapsize @40,
 *     dbs[0] (free list) @48: psize u32 @48, flags u16 @52, ... ; dbs[1] (main) @96: entries u64 @128, root u64 @136;
 *     last_pg u64 @144, txnid u64 @152
 * Pages 0 and 1 are both meta pages; lmdb uses the one with the higher txnid.
 */

const P_META = 0x08;
const MDB_MAGIC = 0xbeefc0de;
const MDB_DATA_VERSION = 2;
/** lmdb's page sizes: a power of two between these. */
const PAGE_BYTES_MIN = 512;
const PAGE_BYTES_MAX = 65_536;
/** No root page: an empty tree. */
const P_INVALID = 0xffff_ffff_ffff_ffffn;
/** Bytes read to see both meta pages when pages are at most PAGE_BYTES_MAX (the first tells the size). */
const HEADER_READ_BYTES = 256;

/** What the meta pages say, for checks and for a message. */
export interface LmdbHeader {
  pageBytes: number;
  /** Entries of the main database, by the newer meta page. */
  entries: number;
}

/**
 * Why the lmdb file at `file` cannot be opened safely, or null if its meta
 * pages are sound (or it is missing or empty: lmdb makes a new database
 * there). Synchronous and cheap: two small reads.
 */
export function lmdbHeaderProblem(file: string): string | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? null : `cannot be read (${code})`;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return 'is not a regular file';
    if (st.size === 0) return null;
    const first = Buffer.alloc(HEADER_READ_BYTES);
    if (readSync(fd, first, 0, first.length, 0) < first.length) return `is truncated (${st.size} bytes: less than its meta pages)`;
    const pageBytes = first.readUInt32LE(48);
    if (pageBytes < PAGE_BYTES_MIN || pageBytes > PAGE_BYTES_MAX || (pageBytes & (pageBytes - 1)) !== 0) return headerWhy(first) ?? `names a page size of ${pageBytes} bytes`;
    if (st.size < 2 * pageBytes) return `is truncated (${st.size} bytes: less than its two meta pages of ${pageBytes} bytes)`;
    const second = Buffer.alloc(HEADER_READ_BYTES);
    readSync(fd, second, 0, second.length, pageBytes);
    const why = headerWhy(first) ?? headerWhy(second);
    if (why) return why;
    if (second.readUInt32LE(48) !== pageBytes) return 'has meta pages that disagree on the page size';
    const meta = first.readBigUInt64LE(152) >= second.readBigUInt64LE(152) ? first : second;
    const pages = BigInt(Math.floor(st.size / pageBytes));
    const root = meta.readBigUInt64LE(136);
    if (root !== P_INVALID && root >= pages) return `is truncated (${st.size} bytes: its root page ${root} is past the end)`;
    return null;
  } finally {
    closeSync(fd);
  }
}

/** What is wrong with one meta page, or null. */
function headerWhy(page: Buffer): string | null {
  if ((page.readUInt16LE(18) & P_META) === 0 || page.readUInt32LE(24) !== MDB_MAGIC) return 'is not an lmdb database (no meta page)';
  const version = page.readUInt32LE(28) & 0xffff;
  if (version !== MDB_DATA_VERSION) return `is an lmdb database of format ${version}, not ${MDB_DATA_VERSION}`;
  return null;
}

/** How long a child may take to walk a database: ~1 s per million records here; a loaded machine is slower. */
const WALK_TIMEOUT_MS = 120_000;
const WALKER = fileURLToPath(new URL('./db-walk.js', import.meta.url));
/** The walker says how far it got this often (ms), on lines starting with WALK_PROGRESS_PREFIX. */
export const WALK_PROGRESS_MS = 1_000;
export const WALK_PROGRESS_PREFIX = 'walked ';

/**
 * Why the database at `file` is damaged, or null: its meta pages (see
 * lmdbHeaderProblem), then a walk over every entry in a child process
 * (db-walk.ts), which must neither crash nor find fewer entries than the
 * meta page counts.
 */
export async function lmdbProblem(file: string, onProgress?: (entries: number) => void): Promise<string | null> {
  const header = lmdbHeaderProblem(file);
  if (header) return header;
  // Missing or empty: lmdb makes a new database there, nothing to walk.
  if ((statSync(file, { throwIfNoEntry: false })?.size ?? 0) === 0) return null;
  return new Promise((resolve) => {
    const walker = execFile(process.execPath, [WALKER, file], { timeout: WALK_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, stdout) => {
      if (!err) return resolve(null);
      const e = err as NodeJS.ErrnoException & { signal?: string | null; killed?: boolean };
      const said = stdout.trim().split('\n').filter((l) => !l.startsWith(WALK_PROGRESS_PREFIX)).pop();
      // Not run (no process to spare) or not done in time: unchecked, not damaged. Its header was sound, and a
      // damage met in use is still caught (LmdbFile); setting a sound database aside would lose it.
      if (typeof e.code === 'string' || (e.killed && e.signal === 'SIGKILL')) resolve(null);
      else if (e.signal) resolve(`crashes lmdb when read (${e.signal}): its pages are damaged`);
      else resolve(said ? `is damaged (${said})` : `is damaged (the check exited with ${String(e.code)})`);
    });
    if (onProgress) {
      walker.stdout?.on('data', (d: Buffer) => {
        const last = d.toString().trim().split('\n').filter((l) => l.startsWith(WALK_PROGRESS_PREFIX)).pop();
        if (last) onProgress(Number(last.slice(WALK_PROGRESS_PREFIX.length)));
      });
    }
  });
}

/** Errors lmdb gives when a database's pages are damaged (as opposed to a full disk or a closed database). */
const DAMAGE_ERRORS = /^MDB_(PAGE_NOTFOUND|CORRUPTED|PROBLEM|BAD_TXN|INVALID|VERSION_MISMATCH|PAGE_FULL)\b/;

/** Whether an error thrown by lmdb says that the database itself is damaged. */
export function isDamageError(err: unknown): boolean {
  return err instanceof Error && DAMAGE_ERRORS.test(err.message);
}
