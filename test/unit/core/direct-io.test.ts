import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { AlignedBuffers, DIRECT_BYTES_MIN, alignUp, readDirect, readDirectSync, writeDirect } from '../../../src/core/index.js';
import { tmpDir } from '../../helpers/index.js';

/** Bytes of a file in the page cache (util-linux fincore). */
function cachedBytes(file: string): number {
  return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }).trim());
}

test('aligned buffers: at most as many as set aside are out at once; a view given back returns its whole buffer', (t) => {
  const buffers = new AlignedBuffers(alignUp(100_000), 2);
  const a = buffers.take()!;
  const b = buffers.take()!;
  t.is(a.length, alignUp(100_000));
  t.is(buffers.take(), null, 'none left: the caller does buffered I/O');
  buffers.put(a.subarray(0, 10));
  const again = buffers.take()!;
  t.is(again.byteOffset, a.byteOffset);
  t.is(again.length, a.length);
  buffers.put(b);
  t.throws(() => new AlignedBuffers(1000, 1), { message: /multiple of 4096/ });
});

test('a file written directly reads back the same, directly and not, cut to its length, and is not left in the page cache', async (t) => {
  const dir = await tmpDir(t);
  const buffers = new AlignedBuffers(alignUp((1 << 20) + 1), 2);
  const aligned = buffers.take()!;
  for (const size of [DIRECT_BYTES_MIN, (1 << 20) - 3, 1 << 20]) {
    const data = randomBytes(size);
    const file = path.join(dir, `f${size}`);
    t.true(await writeDirect(file, data, aligned, { datasync: true }), `${size} bytes written directly`);
    t.is((await stat(file)).size, size, 'cut to its length');
    t.is(cachedBytes(file), 0, 'nothing of it in the page cache');
    const into = buffers.take()!;
    t.is(await readDirect(file, into), size);
    t.true(into.subarray(0, size).equals(data));
    const range = Math.min(65536, size - 32768);
    t.is(readDirectSync(file, into, 32768, 65536), range);
    t.true(into.subarray(0, range).equals(data.subarray(32768, 32768 + range)));
    t.is(readDirectSync(file, into, size - (size % 4096 || 4096), 65536), size % 4096 || 4096, 'short at the end of the file');
    t.is(readDirectSync(file, into, 100, 10), null, 'an unaligned offset is not read directly');
    buffers.put(into);
    t.true((await readFile(file)).equals(data), 'a plain read sees it too');
  }
  t.false(await writeDirect(path.join(dir, 'small'), randomBytes(DIRECT_BYTES_MIN - 1), aligned), 'small files go through the page cache');
  await t.throwsAsync(stat(path.join(dir, 'small')), { code: 'ENOENT' });
  t.false(await writeDirect(path.join(dir, 'big'), randomBytes(aligned.length + 1), aligned), 'more than the buffer holds');
  await t.throwsAsync(readDirect(path.join(dir, 'missing'), aligned), { code: 'ENOENT' });
});
