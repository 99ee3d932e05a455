import test from 'ava';
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDirs } from '../../../src/core/index.js';
import { tmpDir } from '../../helpers/index.js';

test('makeDirs makes every missing level, accepts an existing directory, and fails (never spins) where none can be made', async (t) => {
  const root = await tmpDir(t);
  const deep = path.join(root, 'a', 'b', 'c');
  await makeDirs(deep);
  t.true((await stat(deep)).isDirectory());
  await t.notThrowsAsync(makeDirs(deep));
  await writeFile(path.join(root, 'file'), 'x');
  await t.throwsAsync(makeDirs(path.join(root, 'file')), { code: 'EEXIST' });
  await t.throwsAsync(makeDirs(path.join(root, 'file', 'below')), { code: 'ENOTDIR' });
  // Node's own recursive mkdir never settles for this path.
  await t.throwsAsync(makeDirs('/proc/cellsync-test/x'), { code: 'ENOENT' });
});
