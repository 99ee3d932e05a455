import { closeSync, constants, open as openCallback, openSync, readSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';

/*
 * Direct I/O (O_DIRECT) for chunk files: their bytes go between the disk and
 * a process's own buffers, not through the kernel's page cache. A chunk file
 * is written once and then read whole or by leaf, and whoever reads it
 * verifies and caches it itself (the mount's chunk cache): the page cache
 * only held each chunk a second time. On a VM that costs more than memory:
 * the host faults in each page the guest touches for the first time and
 * takes back pages the guest frees, so a page cache that keeps growing into
 * fresh memory costs CPU on every write
 * (docs/decisions/0002-direct-io-for-chunk-files.md).
 *
 * O_DIRECT needs the buffer's address, the file offset and the length to be
 * multiples of the device's block. Node's Buffers are not aligned, so each
 * process sets aside a few page-aligned buffers (AlignedBuffers) and does its
 * direct I/O through them. A file system without O_DIRECT (some network
 * and FUSE file systems, older tmpfs) answers EINVAL: then the caller uses
 * buffered I/O, as it does when CELLSYNC_DIRECT_IO=0.
 */

/** Alignment of direct I/O buffers, offsets and lengths: a page, which covers every block size in use. */
export const DIRECT_ALIGN_BYTES = 4096;
/** Files smaller than this go through the page cache: they take few pages, and a direct write pads them to a block and cuts them back. */
export const DIRECT_BYTES_MIN = 64 * 1024;
const WASM_PAGE_BYTES = 65536;

let directFlag: number | undefined;
/** O_DIRECT, or 0 where there is none or CELLSYNC_DIRECT_IO=0 turns direct I/O off (read once). */
function oDirect(): number {
  return (directFlag ??= process.env.CELLSYNC_DIRECT_IO === '0' ? 0 : (constants.O_DIRECT ?? 0));
}

export function alignUp(bytes: number): number {
  return Math.ceil(bytes / DIRECT_ALIGN_BYTES) * DIRECT_ALIGN_BYTES;
}

/**
 * A fixed set of page-aligned buffers in one block of shared memory (a
 * WebAssembly.Memory: page-aligned, and readable in place by a hashing
 * thread), reserved the first time one is taken. take() answers null when all
 * are in use: the caller then does buffered I/O, so nobody waits for one.
 */
export class AlignedBuffers {
  private free: Buffer[] | null = null;

  constructor(
    readonly bufferBytes: number,
    private readonly count: number,
  ) {
    if (bufferBytes % DIRECT_ALIGN_BYTES !== 0) throw new Error(`aligned buffers must be a multiple of ${DIRECT_ALIGN_BYTES} bytes`);
  }

  take(): Buffer | null {
    if (!this.free) {
      const memory = new WebAssembly.Memory({ initial: Math.ceil((this.bufferBytes * this.count) / WASM_PAGE_BYTES), maximum: Math.ceil((this.bufferBytes * this.count) / WASM_PAGE_BYTES), shared: true });
      this.free = Array.from({ length: this.count }, (_, i) => Buffer.from(memory.buffer, i * this.bufferBytes, this.bufferBytes));
    }
    return this.free.pop() ?? null;
  }

  /** Gives back a buffer from take() (a view of it is fine: the whole buffer is what returns). */
  put(buf: Buffer): void {
    const whole = Buffer.from(buf.buffer, buf.byteOffset - (buf.byteOffset % this.bufferBytes), this.bufferBytes);
    this.free?.push(whole);
  }
}

function isUnsupported(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'EINVAL';
}

/**
 * Writes `data` as the new file `file` with O_DIRECT, through `aligned` (an
 * AlignedBuffers buffer; data already at its start is not copied), fdatasynced
 * if `datasync` (the file's size and blocks: the data itself is on the device
 * once the write returns, but maybe in its cache). The write is whole blocks,
 * then cut to length. False if the data is too small or too large for it, or
 * the file system refused direct I/O: then nothing is left behind.
 */
export async function writeDirect(file: string, data: Uint8Array, aligned: Buffer, opts: { mode?: number; datasync?: boolean } = {}): Promise<boolean> {
  const length = data.length;
  if (!oDirect() || length < DIRECT_BYTES_MIN || alignUp(length) > aligned.length) return false;
  if (data.buffer !== aligned.buffer || data.byteOffset !== aligned.byteOffset) aligned.set(data);
  let fh;
  try {
    fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | oDirect(), opts.mode ?? 0o644);
  } catch (err) {
    if (isUnsupported(err)) return false;
    throw err;
  }
  try {
    const whole = alignUp(length);
    const { bytesWritten } = await fh.write(aligned, 0, whole, 0);
    if (bytesWritten !== whole) throw new Error(`short direct write to ${file}: ${bytesWritten} of ${whole} bytes`);
    if (whole !== length) await fh.truncate(length);
    if (opts.datasync) await fh.datasync();
  } catch (err) {
    await fh.close().catch(() => {});
    if (!isUnsupported(err)) throw err;
    await unlink(file).catch(() => {});
    return false;
  }
  await fh.close();
  return true;
}

/** Opens a file for reading with O_DIRECT; null if its file system refuses direct I/O. Other errors (ENOENT) throw. */
export async function openDirect(file: string): Promise<FileHandle | null> {
  if (!oDirect()) return null;
  try {
    return await open(file, constants.O_RDONLY | oDirect());
  } catch (err) {
    if (isUnsupported(err)) return null;
    throw err;
  }
}

/**
 * Reads a file opened by openDirect into `aligned` from its start: the bytes
 * read, up to aligned.length (which means the file may be longer).
 */
export async function readAllDirect(fh: FileHandle, aligned: Buffer): Promise<number> {
  // One read: a regular file answers all it has up to what is asked (a second read would start unaligned).
  return (await fh.read(aligned, 0, aligned.length, 0)).bytesRead;
}

/**
 * Reads a whole file of at most `aligned.length` bytes into `aligned` with
 * O_DIRECT: the bytes read (aligned.length means the file may be longer), or
 * null if the file system refused direct I/O. Other errors (ENOENT) throw.
 */
export async function readDirect(file: string, aligned: Buffer): Promise<number | null> {
  const fh = await openDirect(file);
  if (!fh) return null;
  try {
    return await readAllDirect(fh, aligned);
  } catch (err) {
    if (isUnsupported(err)) return null;
    throw err;
  } finally {
    void fh.close().catch(() => {});
  }
}

/** Opens a file for reading with O_DIRECT, synchronously: its descriptor, or null if its file system refuses direct I/O. Other errors throw. */
export function openDirectSync(file: string): number | null {
  if (!oDirect()) return null;
  try {
    return openSync(file, constants.O_RDONLY | oDirect());
  } catch (err) {
    if (isUnsupported(err)) return null;
    throw err;
  }
}

/** As openDirectSync, on the thread pool, as a plain descriptor (to keep); null too for a file that cannot be opened. */
export function openDirectFd(file: string): Promise<number | null> {
  if (!oDirect()) return Promise.resolve(null);
  return new Promise((resolve) => openCallback(file, constants.O_RDONLY | oDirect(), (err, fd) => resolve(err ? null : fd)));
}

/**
 * Reads up to `length` bytes at `position` (a multiple of DIRECT_ALIGN_BYTES)
 * of a file opened by openDirectSync into `aligned`, synchronously: the bytes
 * read (fewer at the file's end).
 */
export function readAtDirectSync(fd: number, aligned: Buffer, position: number, length: number): number {
  if (position % DIRECT_ALIGN_BYTES !== 0 || alignUp(length) > aligned.length) throw new Error(`unaligned direct read: ${length} bytes at ${position}`);
  return Math.min(length, readSync(fd, aligned, 0, alignUp(length), position));
}

/**
 * Reads up to `length` bytes at `position` (a multiple of DIRECT_ALIGN_BYTES)
 * into `aligned`, synchronously, with O_DIRECT: the bytes read (fewer at the
 * file's end), or null if the file system refused direct I/O. Other errors throw.
 */
export function readDirectSync(file: string, aligned: Buffer, position: number, length: number): number | null {
  if (position % DIRECT_ALIGN_BYTES !== 0 || alignUp(length) > aligned.length) return null;
  const fd = openDirectSync(file);
  if (fd === null) return null;
  try {
    return readAtDirectSync(fd, aligned, position, length);
  } catch (err) {
    if (isUnsupported(err)) return null;
    throw err;
  } finally {
    closeSync(fd);
  }
}
