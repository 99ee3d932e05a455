import test from 'ava';
import { execFileSync } from 'node:child_process';
import { RecordStore } from '../../../src/store/index.js';
import { tmpDir } from '../../helpers/index.js';

test('merge keeps the newer version of each record and remembers the keys it changed, once', async (t) => {
  const store = RecordStore.inDataDir(await tmpDir(t));
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

test('restore undoes a merge: what it replaced comes back with its own version, a key it made goes, a key written since stays', async (t) => {
  const store = RecordStore.inDataDir(await tmpDir(t));
  t.teardown(() => store.close());
  store.merge([{ k: 'i/0000000000000001', v: '1', d: { size: 300000 } }]);
  const replaced = store.merge([
    { k: 'i/0000000000000001', v: '2', d: { size: 0 } },
    { k: 'i/0000000000000002', v: '2', d: { a: 1 } },
    { k: 'i/0000000000000003', v: '2', d: { b: 1 } },
  ]);
  t.deepEqual(replaced[0], { k: 'i/0000000000000001', v: '2', prev: { k: 'i/0000000000000001', v: '1', d: { size: 300000 } } });
  store.merge([{ k: 'i/0000000000000003', v: '3', d: { b: 2 } }]);
  store.restore(replaced);
  t.deepEqual(store.get('i/0000000000000001'), { k: 'i/0000000000000001', v: '1', d: { size: 300000 } });
  t.is(store.get('i/0000000000000002'), null);
  t.deepEqual(store.get('i/0000000000000003'), { k: 'i/0000000000000003', v: '3', d: { b: 2 } }, 'written again since: left alone');
});

test('a record another process merges is seen by the next get and scan, even in the same turn of the event loop', async (t) => {
  const store = RecordStore.inDataDir(await tmpDir(t));
  t.teardown(() => store.close());
  const module = new URL('../../../src/store/index.js', import.meta.url).href;
  // A mount on this machine merging straight into the cell's database (LocalCellDisks.mergeRecords), while the cell waits.
  const mergeElsewhere = (k: string) =>
    execFileSync(process.execPath, [
      '--input-type=module',
      '-e',
      `import { RecordStore } from ${JSON.stringify(module)}; const s = new RecordStore(${JSON.stringify(store.file)}); s.merge([{ k: ${JSON.stringify(k)}, v: '1', d: { a: 1 } }]); await s.close();`,
    ]);
  t.is(store.get('d/0000000000000001/x'), null);
  t.deepEqual(store.scan('d/0000000000000001/', null, 10), []);
  mergeElsewhere('d/0000000000000001/x');
  t.deepEqual(store.get('d/0000000000000001/x'), { k: 'd/0000000000000001/x', v: '1', d: { a: 1 } });
  mergeElsewhere('d/0000000000000001/y');
  t.deepEqual(store.scan('d/0000000000000001/', null, 10).map((r) => r.k), ['d/0000000000000001/x', 'd/0000000000000001/y']);
});
