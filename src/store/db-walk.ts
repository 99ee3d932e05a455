import { open as openLmdb } from 'lmdb';

/*
 * Run as a child process by lmdbProblem (db-check.ts): opens the lmdb
 * database named on the command line read-only and reads every entry,
 * decoding each value. Exit 0 if it read as many entries as the database
 * counts; else exit 1 with the reason as the last line of stdout. A damaged
 * database may instead kill this process (lmdb aborts or segfaults on some
 * garbage): that is the point of running it apart. While it walks, it prints
 * `${WALK_PROGRESS_PREFIX}<entries read>` about once a second, so that whoever waits for
 * a large database sees it advance.
 */
import { WALK_PROGRESS_MS, WALK_PROGRESS_PREFIX } from './db-check.js';

const file = process.argv[2];
if (!file) {
  console.log('no database named');
  process.exit(1);
}
try {
  const db = openLmdb({ path: file, readOnly: true, compression: false });
  const counted = (db.getStats() as { entryCount: number }).entryCount;
  let read = 0;
  let saidAt = Date.now();
  for (const _ of db.getRange({})) {
    // The clock is read every 4,096 entries: a walk reads about a million a second.
    if (++read % 4096 === 0 && Date.now() - saidAt >= WALK_PROGRESS_MS) {
      saidAt = Date.now();
      console.log(`${WALK_PROGRESS_PREFIX}${read}`);
    }
  }
  if (read !== counted) {
    console.log(`${read} entries readable of the ${counted} it counts`);
    process.exit(1);
  }
  await db.close();
} catch (err) {
  console.log((err as Error).message.split('\n')[0]);
  process.exit(1);
}
