import { createHash } from 'node:crypto';
import test from 'ava';
import { SimClock, defaultConfig, seededRng } from '../../../src/core/index.js';
import { MemberIds } from '../../../src/membership/member-ids.js';
import { MemberTable } from '../../../src/membership/swim/member-table.js';
import { bucketOf, differingBuckets } from '../../../src/membership/swim/table-digest.js';
import type { MemberUpdate } from '../../../src/wire/index.js';

const update = (n: number, patch: Partial<MemberUpdate> = {}): MemberUpdate => ({
  id: createHash('sha256').update(String(n)).digest('hex').slice(0, 16), // random-looking, as cell ids are
  addr: `127.0.0.1:${7000 + n}`,
  incarnation: 1,
  role: 'storage',
  pid: n,
  chunks: 0,
  bytes: 0,
  capacityBytes: 1,
  state: 'alive',
  version: 0,
  ...patch,
});

const table = (ids?: MemberIds) =>
  new MemberTable(new SimClock(), seededRng(1), defaultConfig().membership, { stale: 0, tableFull: 0 }, { news: () => {}, urgent: () => {}, emit: () => {}, log: () => {} }, ids);

test('tables holding the same members in the same states have the same digest, whatever the order news came in', (t) => {
  const a = table();
  const b = table(new MemberIds());
  const news = [update(1), update(2), update(3, { version: 2 }), update(2, { state: 'suspect' }), update(1, { incarnation: 2 })];
  for (const u of news) a.apply(u, false);
  for (const u of [...news].reverse()) b.apply(u, false);
  t.is(a.digest.whole(), b.digest.whole());
  const before = a.digest.whole();
  a.apply(update(3, { state: 'dead' }), false);
  t.not(a.digest.whole(), before, 'a death changes the digest');
  b.apply(update(3, { state: 'dead' }), false);
  t.is(a.digest.whole(), b.digest.whole());
  t.true(a.forget(update(3).id) !== null);
  t.not(a.digest.whole(), b.digest.whole(), 'a forgotten member is missing from the digest');
  const empty = table();
  for (const u of [update(1, { incarnation: 2 }), update(2, { state: 'suspect' })]) empty.apply(u, false);
  t.is(a.digest.whole(), empty.digest.whole(), 'the digest is of what is held, not of the history');
});

test('tables sharing member ids share descriptions, and the address index finds only live members', (t) => {
  const ids = new MemberIds();
  const a = table(ids);
  const b = table(ids);
  a.apply(update(1), false);
  b.apply(update(1), false);
  t.is(a.infoOf(a.indexOf(update(1).id)), b.infoOf(b.indexOf(update(1).id)), 'one object for the same news');
  t.is(a.at('127.0.0.1:7001'), a.indexOf(update(1).id));
  a.apply(update(1, { state: 'dead' }), false);
  t.is(a.at('127.0.0.1:7001'), -1, 'a dead member is no longer at its address');
  t.is(b.at('127.0.0.1:7001'), b.indexOf(update(1).id), 'another table still holds it there');
  a.apply(update(9, { addr: '127.0.0.1:7002' }), false);
  b.apply(update(2), false);
  b.apply(update(9, { addr: '127.0.0.1:7002' }), true);
  t.is(b.stateOf(b.indexOf(update(2).id)), 'dead', 'a new cell speaking first-hand from a member\'s address means that member is gone');
});

test('tables that differ in one member differ in its bucket only, at every folding', (t) => {
  const a = table();
  const b = table();
  for (let n = 1; n <= 600; n++) {
    a.apply(update(n * 97), false);
    b.apply(update(n * 97), false);
  }
  const changed = update(300 * 97, { state: 'suspect' });
  b.apply(changed, false);
  for (const count of [1, 2, 16, 256]) {
    const differ = differingBuckets(a.digest.buckets(count), b.digest.buckets(count).join(''));
    t.deepEqual([...differ], [bucketOf(changed.id) % count], `${count} buckets`);
    t.deepEqual([...b.indicesIn(differ, count)].map((i) => b.idOf(i)).includes(changed.id), true);
  }
  t.true([...b.indicesIn(new Set([bucketOf(changed.id)]), 256)].length < 20, 'a bucket of 256 holds a few of 600 members');
});

test('a member that moved often is found at its latest addresses only: what is kept of it stays bounded', (t) => {
  const ids = new MemberIds();
  const a = table(ids);
  for (let n = 0; n < 10; n++) a.apply(update(1, { addr: `127.0.0.1:${8000 + n}`, incarnation: 1 + n }), false);
  const i = a.indexOf(update(1).id);
  t.is(a.at('127.0.0.1:8009'), i);
  t.deepEqual(ids.claimants('127.0.0.1:8000'), [], 'the first address is no longer remembered');
  t.deepEqual(ids.claimants('127.0.0.1:8006'), [i]);
});
