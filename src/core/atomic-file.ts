import { randomBytes } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { writeDirect } from './direct-io.js';

/**
 * Writes a file so that readers see the old or the new content, never a mix,
 * even across a crash: temp file, fdatasync, rename, fsync the directory.
 * The temp file goes in tmpDir (same file system) or beside the target.
 * With durable: false the syncs are skipped: readers still never see a mix,
 * but a crash may lose the file (for what can be recomputed). Given an
 * `aligned` buffer (AlignedBuffers), large data is written with direct I/O
 * where the file system allows (core/direct-io.ts).
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  opts: { mode?: number; tmpDir?: string; durable?: boolean; aligned?: Buffer | null } = {},
): Promise<void> {
  const tmp = path.join(opts.tmpDir ?? path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  const mode = opts.mode ?? 0o644;
  const durable = opts.durable ?? true;
  const direct = opts.aligned && typeof data !== 'string' && (await writeDirect(tmp, data, opts.aligned, { mode, datasync: durable }));
  if (!direct) {
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.writeFile(data);
      // fdatasync: the data and the size (what reading it back needs), not the times, which nothing needs after a crash.
      if (durable) await fh.datasync();
    } finally {
      await fh.close();
    }
  }
  await rename(tmp, file);
  if (durable) await syncFile(path.dirname(file));
}

/** fsync of a file or directory (one renamed into); `dataOnly`: fdatasync, for a file's content and size. */
export async function syncFile(file: string, dataOnly = false): Promise<void> {
  const fh = await open(file, 'r');
  try {
    await (dataOnly ? fh.datasync() : fh.sync());
  } finally {
    await fh.close();
  }
}
