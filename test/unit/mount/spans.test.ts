import test from 'ava';
import { LEAF_BYTES } from '../../../src/core/index.js';
import { chunkSpans, copyOut, leafSpan } from '../../../src/mount/fs/spans.js';

test('chunkSpans cuts a byte range at chunk boundaries, each span with its offset into the range', (t) => {
  t.deepEqual([...chunkSpans(0, 10, 4)], [
    { index: 0, within: 0, n: 4, offset: 0 },
    { index: 1, within: 0, n: 4, offset: 4 },
    { index: 2, within: 0, n: 2, offset: 8 },
  ]);
  t.deepEqual([...chunkSpans(6, 3, 4)], [
    { index: 1, within: 2, n: 2, offset: 0 },
    { index: 2, within: 0, n: 1, offset: 2 },
  ]);
  t.deepEqual([...chunkSpans(5, 2, 4)], [{ index: 1, within: 1, n: 2, offset: 0 }]);
  t.deepEqual([...chunkSpans(5, 0, 4)], []);
  t.deepEqual([...chunkSpans(5, -3, 4)], []);
});

test('leafSpan covers the leaves of a range; copyOut fills past a short source with zeros', (t) => {
  t.deepEqual(leafSpan(0, 1), { first: 0, count: 1 });
  t.deepEqual(leafSpan(LEAF_BYTES - 1, 2), { first: 0, count: 2 });
  t.deepEqual(leafSpan(LEAF_BYTES, 2 * LEAF_BYTES), { first: 1, count: 2 });
  const out = Buffer.alloc(6, 0xff);
  copyOut(Buffer.from([1, 2, 3]), 1, 4, out, 1);
  t.deepEqual([...out], [0xff, 2, 3, 0, 0, 0xff]);
});
