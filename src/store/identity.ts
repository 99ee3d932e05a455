import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isCellId, newCellId, type CellId } from '../core/index.js';
import { writeFileAtomic } from './atomic.js';

export interface IdentityRecord {
  id: CellId;
  /** Bumped on every start, so peers can tell a restarted cell from stale news about it. */
  incarnation: number;
}

/** A cell's persistent identity (<data>/identity.json): the same id across restarts, a higher incarnation each time. */
export class CellIdentity {
  static async loadAndBump(dataDir: string): Promise<IdentityRecord> {
    const file = path.join(dataDir, 'identity.json');
    let rec: IdentityRecord;
    try {
      const raw = JSON.parse(await readFile(file, 'utf8')) as Partial<IdentityRecord>;
      if (!isCellId(raw.id) || !Number.isInteger(raw.incarnation)) throw new Error(`${file} is damaged`);
      rec = { id: raw.id, incarnation: raw.incarnation! + 1 };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      rec = { id: newCellId(), incarnation: 1 };
    }
    await writeFileAtomic(file, JSON.stringify(rec) + '\n');
    return rec;
  }
}
