import test from 'ava';
import { ATTR_BATCH_MAX, AttrBatches, ORDER_ENTRIES_MAX } from '../../../src/mount/fs/attr-batches.js';

/** AttrBatches over a fake fetch that records each batch and holds its inodes as fresh once it resolves. */
function fakeBatches() {
  const fresh = new Set<string>();
  const batches: string[][] = [];
  const pending: (() => void)[] = [];
  const b = new AttrBatches({
    fetch: (inos) => {
      batches.push(inos);
      return new Promise<void>((resolve) => pending.push(() => (inos.forEach((i) => fresh.add(i)), resolve())));
    },
    isFresh: (ino) => fresh.has(ino),
  });
  const answerAll = async () => {
    while (pending.length) pending.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { b, fresh, batches, answerAll };
}

const inosOf = (n: number) => Array.from({ length: n }, (_, i) => `ino${String(i).padStart(5, '0')}`);

test('a miss fetches its entry and those after it in the listing, at most ATTR_BATCH_MAX; a second miss in it waits for the same batch', async (t) => {
  const { b, batches, answerAll } = fakeBatches();
  const inos = inosOf(1000);
  b.noteListing('dir', inos);
  const first = b.load('dir', inos[10]!);
  t.truthy(first);
  t.is(b.load('dir', inos[20]!), first, 'an entry in a batch under way waits for that batch');
  t.deepEqual(batches, [inos.slice(10, 10 + ATTR_BATCH_MAX)]);
  await answerAll();
  await first;
  t.is(b.load('other', inos[10]!), null, 'a directory not listed: the caller reads the inode alone');
  t.is(b.load('dir', 'not-in-listing'), null);
});

test('a reader going through the listing in order finds the next batch asked for before it gets there, and every entry fetched once', async (t) => {
  const { b, fresh, batches, answerAll } = fakeBatches();
  const inos = inosOf(2000);
  b.noteListing('dir', inos);
  let misses = 0;
  for (const ino of inos) {
    if (fresh.has(ino)) b.ahead('dir', ino);
    else {
      misses++;
      const p = b.load('dir', ino)!;
      await answerAll();
      await p;
    }
    // The next batch's answer comes while the reader is at the entries before.
    await answerAll();
  }
  t.is(misses, 1, 'only the first entry waited for the swarm');
  t.is(batches.length, Math.ceil(inos.length / ATTR_BATCH_MAX));
  t.deepEqual(batches.flat(), inos, 'each entry fetched once, in order');
});

test('entries already fresh are skipped; a new listing starts over; clear() forgets listings', async (t) => {
  const { b, fresh, batches, answerAll } = fakeBatches();
  const inos = inosOf(10);
  for (const i of [1, 2, 5]) fresh.add(inos[i]!);
  b.noteListing('dir', inos);
  const p = b.load('dir', inos[0]!)!;
  await answerAll();
  await p;
  t.deepEqual(batches, [[0, 3, 4, 6, 7, 8, 9].map((i) => inos[i]!)]);
  fresh.clear();
  b.noteListing('dir', inos);
  b.ahead('dir', inos[0]!);
  t.deepEqual(batches[1], inos.slice(1), 'a hit on a new listing reads ahead of itself');
  await answerAll();
  b.clear();
  t.is(b.load('dir', inos[0]!), null);
});

test('a failed batch fails its waiters, and the entries it had are asked again later', async (t) => {
  let calls = 0;
  const b = new AttrBatches({
    fetch: async () => {
      calls++;
      throw new Error('no cell answered');
    },
    isFresh: () => false,
  });
  const inos = inosOf(5);
  b.noteListing('dir', inos);
  await t.throwsAsync(b.load('dir', inos[0]!)!, { message: 'no cell answered' });
  await t.throwsAsync(b.load('dir', inos[1]!)!, { message: 'no cell answered' });
  t.is(calls, 2);
});

test('listings are remembered up to ORDER_ENTRIES_MAX inos in all: a larger one is not kept, older ones make room', (t) => {
  const { b } = fakeBatches();
  b.noteListing('huge', inosOf(ORDER_ENTRIES_MAX + 1));
  t.is(b.load('huge', 'ino00000'), null, 'a listing over the bound: each inode is read alone');
  const half = Math.floor(ORDER_ENTRIES_MAX / 2);
  b.noteListing('first', inosOf(half));
  b.noteListing('second', inosOf(half));
  b.noteListing('third', inosOf(half));
  t.is(b.load('first', 'ino00000'), null, 'the least recently noted listing made room');
  t.truthy(b.load('third', 'ino00000'));
});
