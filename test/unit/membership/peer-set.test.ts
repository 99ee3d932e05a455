import test from 'ava';
import { seededRng } from '../../../src/core/index.js';
import { MemberIds } from '../../../src/membership/member-ids.js';
import { PeerSet } from '../../../src/membership/swim/peer-set.js';

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

test('through random adds and deletes the set holds what was added, and every member is probed within two rounds', (t) => {
  for (const seed of SEEDS) {
    const rng = seededRng(seed);
    const set = new PeerSet(seededRng(seed + 100));
    const held = new Set<number>();
    /** next() calls since each held member was last returned (or added). */
    const waited = new Map<number, number>();
    let sizeMax = 0;
    for (let step = 0; step < 20_000; step++) {
      const r = rng.next();
      if (r < 0.1) {
        const i = rng.int(300);
        set.add(i);
        if (!held.has(i)) waited.set(i, 0);
        held.add(i);
      } else if (r < 0.15) {
        const i = rng.int(300);
        set.delete(i);
        held.delete(i);
        waited.delete(i);
      } else {
        const i = set.next();
        if (held.size === 0) {
          t.is(i, -1);
          continue;
        }
        t.true(held.has(i), `seed ${seed}: next() gave a member not held`);
        for (const [m, w] of waited) waited.set(m, w + 1);
        waited.set(i, 0);
      }
      sizeMax = Math.max(sizeMax, held.size);
      for (const [m, w] of waited) if (w > 2 * sizeMax) t.fail(`seed ${seed}: member ${m} waited ${w} probes (at most ${sizeMax} members)`);
    }
    t.is(set.size, held.size);
    t.deepEqual([...set.all].sort((a, b) => a - b), [...held].sort((a, b) => a - b));
    for (let i = 0; i < 300; i++) t.is(set.has(i), held.has(i));
  }
});

test('a round with no changes probes every member exactly once', (t) => {
  const set = new PeerSet(seededRng(9));
  for (let i = 0; i < 50; i++) set.add(i * 7);
  set.delete(14);
  for (let round = 0; round < 3; round++) {
    const seen = new Set<number>();
    for (let n = 0; n < 49; n++) seen.add(set.next());
    t.is(seen.size, 49, `round ${round}: 49 probes, 49 members`);
    t.false(seen.has(14));
  }
});

test('pick gives distinct members outside the exceptions', (t) => {
  const set = new PeerSet(seededRng(3));
  for (let i = 0; i < 20; i++) set.add(i);
  for (let k = 0; k < 100; k++) {
    const picked = set.pick(5, new Set([0, 1, 2]));
    t.is(new Set(picked).size, 5);
    t.false(picked.some((i) => i < 3));
  }
  t.deepEqual(set.pick(30, new Set([5])).length, 19, 'all but the exception when asked for more than there are');
});

test('member ids: an index lives while some table holds it; descriptions at the same incarnation and version are one object', (t) => {
  const ids = new MemberIds();
  const info = { id: 'aa'.repeat(8), addr: '127.0.0.1:7000', incarnation: 1, role: 'storage' as const, pid: 1, chunks: 0, bytes: 0, capacityBytes: 1 };
  const a = ids.hold(info.id);
  t.is(ids.hold(info.id), a, 'a second table holds the same index');
  const d1 = ids.describe(a, info, 3);
  t.is(ids.describe(a, { ...info }, 3), d1, 'the same news heard twice is one object');
  t.not(ids.describe(a, { ...info, chunks: 5 }, 4), d1);
  t.deepEqual(ids.claimants('127.0.0.1:7000'), [a]);
  ids.release(a);
  t.is(ids.find(info.id), a, 'still held by one table');
  ids.release(a);
  t.is(ids.find(info.id), undefined);
  t.deepEqual(ids.claimants('127.0.0.1:7000'), [], 'its addresses are no longer claimed');
  t.is(ids.hold('bb'.repeat(8)), a, 'its index is reused');
});
