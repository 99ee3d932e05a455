import { chunkCountOf } from '../../client/index.js';
import { FILE_BYTES_MAX, fsError, logger } from '../../core/index.js';
import type { Commits } from './commit.js';
import type { FsContext } from './context.js';
import type { DirtyChunks } from './dirty-chunks.js';
import { withLock, type OpenFile } from './open-file.js';
import type { Patches } from './patches.js';
import { chunkSpans } from './spans.js';
import type { Uploads } from './uploads.js';

const log = logger('mount:fs:write');

/**
 * A file with this many patched chunks (1 GiB of 4 MiB chunks) has them
 * stored: the write that gets there waits for all of them. Fewer means
 * shorter waits, but more of them, and each chunk stored for fewer writes.
 */
const PATCHED_CHUNKS_MAX = 256;

/**
 * Writes and cuts of open files: into dirty chunks (read first where a
 * partial write must keep old bytes) or as patches of stored ones; chunks
 * written to their end are stored at once, and a file over the write-back
 * budget has its chunks stored before the write returns.
 */
export class WriteBack {
  constructor(
    private readonly ctx: FsContext,
    private readonly parts: { dirty: DirtyChunks; patches: Patches; uploads: Uploads; commits: Commits },
  ) {}

  /**
   * A write through a handle (`append`: opened with O_APPEND); `data` is
   * FUSE's buffer, reused once this yields. Answers the bytes written: all,
   * or as ext4 does at the largest file size, those below it.
   */
  async write(f: OpenFile, append: boolean, data: Buffer, length: number, position: number): Promise<number> {
    if (length === 0) return 0;
    const { patches } = this.parts;
    // The kernel places an append at the end of the file as it last heard of it, which another mount may have moved since.
    const at = () => (append ? f.size : position);
    // FUSE reuses its buffer once we yield. With the file idle, a write into a stored chunk becomes a patch
    // of it, and one whose chunks are in memory (a sequential writer) goes straight into them; otherwise the
    // bytes are copied and wait their turn.
    const start = at();
    let written = bytesBelowMax(start, length);
    const bytesNow = data.subarray(0, written);
    if (f.lockers === 0 && (patches.patchNow(f, bytesNow, start, true) || this.copyInNow(f, bytesNow, start))) {
      await withLock(f, () => this.afterWrite(f, start, written));
    } else {
      const copied = Buffer.from(bytesNow);
      await withLock(f, async () => {
        const pos = at();
        written = bytesBelowMax(pos, written);
        const bytes = copied.subarray(0, written);
        if (!patches.patchNow(f, bytes, pos, false)) {
          await this.fetchSources(f, pos, written);
          this.copyIn(f, bytes, pos);
        }
        await this.afterWrite(f, pos, written);
      });
    }
    // A small file just created here is most likely complete: its commit starts now, overlapping the
    // round trips to the close that follows (whose flush then finds it done or under way).
    if (f.created && f.size <= this.ctx.opts.inlineBytesMax) {
      withLock(f, () => this.parts.commits.commit(f)).catch((err: Error) => log('early commit of inode %s failed: %s', f.ino, err.message));
    }
    return written;
  }

  /** Copies a write into its chunks if none has to be fetched first: false if one would. */
  private copyInNow(f: OpenFile, bytes: Buffer, position: number): boolean {
    for (const { index } of chunkSpans(position, Math.max(1, bytes.length), f.chunkBytes)) {
      if (this.parts.dirty.sourceNow(f, index, position, bytes.length) === undefined) return false;
    }
    this.copyIn(f, bytes, position);
    return true;
  }

  /** Read-modify-write: makes dirty, from their stored bytes, the chunks a partial write (or a cut, length 0) needs that are not in memory. */
  private async fetchSources(f: OpenFile, position: number, length: number): Promise<void> {
    const { dirty, patches } = this.parts;
    for (const { index } of chunkSpans(position, Math.max(1, length), f.chunkBytes)) {
      if (f.patches.has(index)) await patches.apply(f, index);
      if (dirty.sourceNow(f, index, position, length) === undefined) dirty.make(f, index, await patches.content(f, index), 0);
    }
  }

  /** Copies bytes into the file's dirty chunks, whose old bytes are in memory (see fetchSources). */
  private copyIn(f: OpenFile, bytes: Buffer, position: number): void {
    for (const { index, within, n, offset } of chunkSpans(position, bytes.length, f.chunkBytes)) {
      const chunk = this.parts.dirty.writable(f, index, within, within + n);
      bytes.copy(chunk.buf, within, offset, offset + n);
      chunk.version++;
      f.size = Math.max(f.size, position + offset + n);
    }
  }

  /** What follows a write: chunks written to their end are stored now (overlapping the next writes); the budget is kept. */
  private async afterWrite(f: OpenFile, position: number, length: number): Promise<void> {
    const now = this.ctx.clock.wallNow();
    f.inode = { ...f.inode, mtimeMs: now, ctimeMs: now };
    f.changed = true;
    for (const { index, within, n } of chunkSpans(position, length, f.chunkBytes)) {
      if (within + n === f.chunkBytes) await this.parts.uploads.start(f, index);
    }
    if (this.parts.dirty.bytes > this.ctx.opts.writebackBytesMax || f.patches.size >= PATCHED_CHUNKS_MAX) await this.spill(f);
  }

  /** Over the write-back budget: store this file's dirty and patched chunks now. */
  private async spill(f: OpenFile): Promise<void> {
    await this.parts.patches.store(f);
    await this.parts.uploads.startAll(f);
    await Promise.all(f.uploads.values());
  }

  /** Makes the file `size` bytes long: a cut zeroes the rest of its last chunk and drops the chunks past it. Over FILE_BYTES_MAX: EFBIG. */
  async setSize(f: OpenFile, size: number): Promise<void> {
    if (size > FILE_BYTES_MAX) throw fsError('FILE_TOO_BIG', `inode ${f.ino}: size ${size}`);
    const { dirty, patches } = this.parts;
    await patches.store(f);
    if (size < f.size) {
      const lastIndex = Math.floor(size / f.chunkBytes);
      const within = size - lastIndex * f.chunkBytes;
      if (within > 0 && lastIndex * f.chunkBytes < f.size) {
        await this.fetchSources(f, lastIndex * f.chunkBytes, 0);
        const d = dirty.writable(f, lastIndex, 0, 0);
        if (within < d.buf.length) d.buf.fill(0, within);
        d.version++;
      }
      const keep = chunkCountOf(size, f.chunkBytes);
      for (const index of [...f.dirty.keys()]) if (index >= keep) dirty.drop(f, index);
      f.chunks.cut(keep);
      if (f.inline) f.inline = f.inline.subarray(0, size);
    }
    f.size = size;
    const now = this.ctx.clock.wallNow();
    f.inode = { ...f.inode, mtimeMs: now, ctimeMs: now };
    f.changed = true;
  }
}

/** The bytes of a write at `position` that stay below FILE_BYTES_MAX: a write across it is shortened, one at or past it fails (EFBIG), as on ext4. */
function bytesBelowMax(position: number, length: number): number {
  if (position >= FILE_BYTES_MAX) throw fsError('FILE_TOO_BIG', `write at ${position}`);
  return Math.min(length, FILE_BYTES_MAX - position);
}
