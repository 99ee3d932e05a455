import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * `mkdir -p` for a directory a user names. Node's recursive mkdir never
 * settles for some paths (`/proc/x` retries ENOENT forever, spinning a
 * core), so this walks up itself, a bounded number of levels.
 */
export async function makeDirs(dir: string, mode?: number, depth = 0): Promise<void> {
  try {
    await mkdir(dir, { mode });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && (await stat(dir)).isDirectory()) return;
    if (code !== 'ENOENT' || depth >= 256 || path.dirname(dir) === dir) throw err;
    await makeDirs(path.dirname(dir), mode, depth + 1);
    await mkdir(dir, { mode }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
}
