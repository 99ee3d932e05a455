import test from 'ava';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { BufferPool, DIRECT_ALIGN_BYTES } from '../../../src/core/index.js';

test('a lent buffer comes back only after the current macrotask, and is then reused', async (t) => {
  const pool = new BufferPool(1024);
  const whole = pool.take();
  const view = pool.lend(whole, 1000);
  t.is(view.length, 1000);
  pool.give(view);
  t.is(pool.idle, 0, 'a holder that got it in this macrotask may still be copying out of it');
  t.not(pool.take(), whole);
  await nextMacrotask();
  t.is(pool.idle, 1);
  t.is(pool.take(), whole);
});

test('only lent views come back, once; idle buffers are bounded', async (t) => {
  const pool = new BufferPool(1024, 2);
  pool.give(Buffer.alloc(1024));
  const whole = pool.take();
  const view = pool.lend(whole, 10);
  pool.give(whole.subarray(0, 10)); // another view of the same memory was never lent
  pool.give(view);
  pool.give(view);
  await nextMacrotask();
  t.is(pool.idle, 1, 'a stranger buffer is ignored, a view given twice returns once');
  for (const b of [pool.take(), pool.take(), pool.take()]) pool.put(b);
  t.is(pool.idle, 2);
  pool.put(Buffer.alloc(10));
  t.is(pool.idle, 2, 'a buffer of another size is not kept');
});

test('an aligned pool’s buffers start on a page and take a direct read of their whole length rounded up to a block', (t) => {
  const pool = new BufferPool(3 * DIRECT_ALIGN_BYTES + 1, 2, 'aligned');
  const whole = pool.take();
  t.is(whole.length, 3 * DIRECT_ALIGN_BYTES + 1);
  t.is(whole.byteOffset % DIRECT_ALIGN_BYTES, 0);
  t.true(whole.buffer instanceof SharedArrayBuffer, 'shared: a hashing thread reads it in place');
  const view = pool.directView(whole)!;
  t.is(view.length, 4 * DIRECT_ALIGN_BYTES);
  view[0] = 7;
  t.is(whole[0], 7, 'the same memory');
  t.is(new BufferPool(1024).directView(new BufferPool(1024).take()), null, 'other pools have no direct view');
});
