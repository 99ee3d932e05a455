import { renameSync } from 'node:fs';
import path from 'node:path';
import { open as openLmdb, type RootDatabaseOptionsWithPath, type RootDatabase } from 'lmdb';
import { CellError } from '../core/index.js';
import { isDamageError, lmdbHeaderProblem, lmdbProblem } from './db-check.js';

/** A damaged database found and moved aside: what the cell says in one line. */
export interface DatabaseRepair {
  file: string;
  why: string;
  movedTo: string;
}

/**
 * Moves a damaged database (and its lock file) into `asideDir` as
 * <name>.<ms>, so that lmdb makes a new, empty one in its place; the
 * caller rebuilds what it can. Throws BAD_CONFIG if it cannot be moved:
 * the cell must not start on it.
 */
export function setAside(file: string, why: string, asideDir: string, nowMs: number): DatabaseRepair {
  const movedTo = path.join(asideDir, `${path.basename(file)}.${nowMs}`);
  try {
    renameSync(file, movedTo);
  } catch (err) {
    throw new CellError('BAD_CONFIG', `${file} ${why}, and it cannot be moved aside (${(err as NodeJS.ErrnoException).code}): move or remove it by hand, then start the cell again`);
  }
  try {
    renameSync(`${file}-lock`, `${movedTo}-lock`);
  } catch {
    // No lock file: nothing to move.
  }
  return { file, why, movedTo };
}

/** Checks a database (lmdbProblem; onProgress hears the entries read) and sets it aside if it is damaged: the repair, or null if it was sound. */
export async function setAsideIfDamaged(file: string, asideDir: string, nowMs: number, onProgress?: (entries: number) => void): Promise<DatabaseRepair | null> {
  const why = await lmdbProblem(file, onProgress);
  return why === null ? null : setAside(file, why, asideDir, nowMs);
}

export interface LmdbFileInit {
  /** Where a database found damaged in use is moved (the cell's own databases); without it, errors are only thrown. */
  asideDir?: string;
  /** Told once a damaged database was set aside and a new, empty one took its place: the owner rebuilds what it can. */
  onReplaced?: (repair: DatabaseRepair) => void;
}

/**
 * One lmdb database file, opened only once its meta pages look sound
 * (lmdb-js segfaults on some damaged files: db-check.ts). Every use goes
 * through use(): an error that says the pages are damaged sets the file
 * aside and opens a new, empty database in its place (a new file: lmdb-js
 * shares environments by inode, so the damaged one is never handed out
 * again), so a cell never keeps answering from a broken database. The
 * operation that met the damage still throws.
 */
export class LmdbFile<V, K extends string> {
  private current: RootDatabase<V, K>;

  constructor(readonly file: string, private readonly options: Omit<RootDatabaseOptionsWithPath, 'path'>, private readonly init: LmdbFileInit = {}) {
    const why = lmdbHeaderProblem(file);
    if (why) throw new CellError('BAD_CONFIG', `${file} ${why}`);
    this.current = openLmdb<V, K>({ ...options, path: file });
  }

  /** Runs fn on the database; see the class comment for what a damaged one does. */
  use<T>(fn: (db: RootDatabase<V, K>) => T): T {
    try {
      return fn(this.current);
    } catch (err) {
      if (isDamageError(err)) this.replace((err as Error).message.split('\n')[0]!);
      throw err;
    }
  }

  private replace(why: string): void {
    const { asideDir, onReplaced } = this.init;
    if (!asideDir) return;
    const damaged = this.current;
    const repair = setAside(this.file, `failed in use (${why})`, asideDir, Date.now());
    this.current = openLmdb<V, K>({ ...this.options, path: this.file });
    void damaged.close().catch(() => undefined);
    onReplaced?.(repair);
  }

  async close(): Promise<void> {
    await this.current.close();
  }
}
