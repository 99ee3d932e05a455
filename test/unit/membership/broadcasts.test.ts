import test from 'ava';
import { BroadcastQueue } from '../../../src/membership/swim/broadcasts.js';

const takeAll = (q: BroadcastQueue, transmitsMax: number, room: number) => {
  let left = room;
  return q.take(transmitsMax, () => left-- > 0);
};

test('news is taken least-sent first, each item transmitsMax times, urgent news before all else', (t) => {
  const q = new BroadcastQueue(16);
  q.push('a');
  q.push('b');
  t.deepEqual(takeAll(q, 2, 1), ['a']);
  q.push('dead', true);
  t.deepEqual(takeAll(q, 2, 2), ['dead', 'b'], 'urgent news first, then the least sent');
  t.deepEqual(takeAll(q, 2, 10), ['a', 'dead', 'b'], 'each sent once more');
  t.is(q.size, 0, 'every item dropped after transmitsMax sends');
});

test('past itemsMax the most-sent item goes', (t) => {
  const q = new BroadcastQueue(2);
  q.push('a');
  takeAll(q, 5, 1);
  q.push('b');
  q.push('c');
  t.is(q.size, 2);
  t.deepEqual(takeAll(q, 5, 10), ['b', 'c']);
});

test('the queue says when news about a member leaves it', (t) => {
  const gone: string[] = [];
  const q = new BroadcastQueue(1, (id) => gone.push(id));
  q.push('a');
  takeAll(q, 1, 1);
  q.push('b');
  q.push('c');
  q.remove('c');
  t.deepEqual(gone, ['a', 'b', 'c'], 'sent enough, dropped past itemsMax, removed');
});
