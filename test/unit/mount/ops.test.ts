import test from 'ava';
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { SwarmFs } from '../../../src/mount/fs/index.js';
import { fuseOps } from '../../../src/mount/ops.js';

const EIO = -os.constants.errno.EIO;
const run = promisify(execFile);

/** Calls a handler as fuse-native does and resolves with what it answered; fails the test if the handler throws. */
function call(handler: (...args: any[]) => void, ...args: unknown[]): Promise<unknown[]> {
  return new Promise((resolve) => handler(...args, (...answer: unknown[]) => resolve(answer)));
}

/** The op table over a file system whose methods are these (a bug in each), and the lines it reported. */
function opsOver(methods: Partial<Record<keyof SwarmFs, (...args: any[]) => unknown>>) {
  const lines: string[] = [];
  return { ops: fuseOps(methods as unknown as SwarmFs, (l) => lines.push(l)), lines };
}

test('a request that throws, synchronously or not, answers EIO and is reported with the op: no handler throws', async (t) => {
  const { ops, lines } = opsOver({
    getattrNow: () => {
      throw new TypeError('a bug in the fast path');
    },
    readNow: () => null,
    read: () => {
      throw new RangeError('a bug before any await');
    },
    readdirEntries: async () => {
      throw new Error('a bug after an await');
    },
  });
  t.deepEqual(await call(ops.getattr!, '/x'), [EIO]);
  t.deepEqual(await call(ops.read!, '/x', 1, Buffer.alloc(8), 8, 0), [EIO]);
  t.deepEqual(await call(ops.readdir!, '/'), [EIO]);
  t.is(lines.length, 3);
  t.regex(lines[0]!, /^getattr \/x: EIO \(TypeError: a bug in the fast path at /);
  t.regex(lines[1]!, /^read \/x: EIO \(RangeError: a bug before any await/);
});

test('an answer that cannot be given (its value throws in the conversion) answers EIO instead, once', async (t) => {
  const { ops, lines } = opsOver({ getattrNow: () => undefined, getattr: async () => undefined });
  // statOf of nothing throws while answering: the request still gets an answer.
  t.deepEqual(await call(ops.getattr!, '/y'), [EIO]);
  // The same on the fast path: what the mount holds cannot be made a stat.
  const { ops: fast } = opsOver({
    getattrNow: () => ({
      get mode(): number {
        throw new TypeError('not a stat');
      },
    }),
  });
  t.deepEqual(await call(fast.getattr!, '/z'), [EIO]);
  // A callback that throws the first time (fuse-native converting a bad value) is called again with EIO.
  const { ops: ops2 } = opsOver({ readdirEntries: async () => [['a', { ino: '00000000000000000000000a', type: 'file' }]] });
  const answers: unknown[][] = [];
  await new Promise<void>((resolve) =>
    ops2.readdir!('/', (...a: unknown[]) => {
      answers.push(a);
      if (answers.length === 1) throw new TypeError('cannot convert');
      resolve();
    }),
  );
  t.deepEqual(answers.map((a) => a.slice(0, 2)), [[0, ['a']], [EIO]]);
  t.is(lines.length, 1);
});

test('an exception or rejection nothing handled in the mount process is logged, and the process goes on', async (t) => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const processJs = path.resolve(here, '../../../src/mount/process.js');
  const script = `
    const { survivesStrayErrors } = await import(${JSON.stringify(processJs)});
    survivesStrayErrors((line) => console.log(line));
    setTimeout(() => { throw new TypeError('thrown on a timer'); }, 0);
    setTimeout(() => { Promise.reject(new RangeError('rejected, never caught')); }, 10);
    setTimeout(() => console.log('still serving'), 50);
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
  t.regex(stdout, /internal error \(uncaughtException\), the mount goes on: TypeError: thrown on a timer/);
  t.regex(stdout, /internal error \(unhandled rejection\), the mount goes on: RangeError: rejected, never caught/);
  t.regex(stdout, /still serving/);
});
