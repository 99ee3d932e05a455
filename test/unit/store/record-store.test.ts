import test from 'ava';
import { RecordStore } from '../../../src/store/index.js';
import { tmpDir } from '../../helpers/index.js';

test('merge keeps the newer version of each record and remembers the keys it changed, once', async (t) => {
  const store = new RecordStore(await tmpDir(t));
  t.teardown(() => store.close());
  store.merge([
    { k: 'i/0000000000000001', v: '2', d: { a: 1 } },
    { k: 'i/0000000000000002', v: '2', d: null },
  ]);
  store.merge([
    { k: 'i/0000000000000001', v: '1', d: { a: 'older' } },
    { k: 'i/0000000000000002', v: '3', d: { b: 2 } },
  ]);
  t.deepEqual(store.get('i/0000000000000001'), { k: 'i/0000000000000001', v: '2', d: { a: 1 } }, 'an older version does not win');
  t.deepEqual(store.get('i/0000000000000002'), { k: 'i/0000000000000002', v: '3', d: { b: 2 } }, 'a newer version replaces a tombstone');
  t.deepEqual(store.takeChanged()?.sort(), ['i/0000000000000001', 'i/0000000000000002']);
  t.deepEqual(store.takeChanged(), [], 'taken keys are forgotten');
  store.merge([{ k: 'i/0000000000000001', v: '1', d: {} }]);
  t.deepEqual(store.takeChanged(), [], 'a merge that changed nothing is not a change');
});
