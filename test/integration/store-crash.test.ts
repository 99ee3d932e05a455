import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ChunkStore } from '../../src/store/index.js';
import { ROOT, tmpDir } from '../helpers/index.js';

const ROUNDS = 3;
const STORE_MODULE = pathToFileURL(path.join(ROOT, 'dist', 'src', 'store', 'index.js')).href;

/** The writer: opens the store, says "ready", then puts random 4 MiB chunks until killed, printing each key once put returns. */
const WRITER = `
import { createHash, randomBytes } from 'node:crypto';
import { ChunkStore } from ${JSON.stringify(STORE_MODULE)};
const store = await ChunkStore.open({ dir: process.argv[2], capacityBytes: 0 });
process.stdout.write('ready\\n');
for (;;) {
  const data = randomBytes(4 * 1024 * 1024);
  const key = createHash('sha256').update(data).digest('hex');
  await store.put(key, data);
  process.stdout.write('stored ' + key + '\\n');
}
`;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function waitExit(child: ChildProcess): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.signalCode ?? child.exitCode);
    child.once('exit', (code, signal) => resolve(signal ?? code));
  });
}

test('atomic write: no partial file visible after a kill mid-write', async (t) => {
  const work = await tmpDir(t, 'cellsync-crash-');
  const script = path.join(work, 'writer.mjs');
  await writeFile(script, WRITER);
  const dataDir = path.join(work, 'data');

  const children: ChildProcess[] = [];
  t.teardown(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  /** Keys whose put returned in the writer before it died: they must survive. */
  const acknowledged = new Set<string>();
  let leftoverTemps = 0;

  for (let round = 1; round <= ROUNDS; round++) {
    const child = spawn(process.execPath, [script, dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = waitExit(child);

    // Start the clock once the store is open, so the kill lands among the writes, not in Node's startup.
    const ready = await Promise.race([
      new Promise<boolean>((resolve) => {
        const check = () => (out.includes('ready\n') ? resolve(true) : undefined);
        child.stdout!.on('data', check);
        check();
      }),
      exited.then(() => false),
    ]);
    t.true(ready, `writer did not start: ${err}`);
    if (!ready) return;
    // Once a put has returned (there is something that must survive), the kill lands at a random point of the
    // writes that follow: the random delay is the behaviour under test, not a wait for an event.
    const firstStored = await Promise.race([
      new Promise<boolean>((resolve) => {
        const check = () => (/^stored /m.test(out) ? resolve(true) : undefined);
        child.stdout!.on('data', check);
        check();
      }),
      exited.then(() => false),
    ]);
    t.true(firstStored, `writer stored nothing: ${err}`);
    const delay = Math.floor(Math.random() * 300);
    await new Promise((r) => setTimeout(r, delay));
    t.is(child.exitCode, null, `writer exited on its own: ${err}`);
    child.kill('SIGKILL');
    t.is(await exited, 'SIGKILL');

    const stored = [...out.matchAll(/^stored ([0-9a-f]{64})$/gm)].map((m) => m[1]!);
    for (const k of stored) acknowledged.add(k);
    const temps = await readdir(path.join(dataDir, 'tmp'));
    leftoverTemps += temps.length;
    t.log(`round ${round}: killed ${delay} ms after the first put returned, ${stored.length} puts returned, ${temps.length} temp file(s) left`);

    // Reopen in this process: everything under chunks/ must be whole.
    const store = await ChunkStore.open({ dir: dataDir, capacityBytes: 0 });
    t.deepEqual(await readdir(path.join(dataDir, 'tmp')), [], 'tmp/ not emptied by open');

    const files: string[] = [];
    for (const sub of await readdir(path.join(dataDir, 'chunks'))) {
      for (const name of await readdir(path.join(dataDir, 'chunks', sub))) {
        if (name.endsWith('.leaves')) continue; // leaf hashes (store/layout.ts), checked by their readers
        t.is(name.slice(0, 2), sub, `${name} is in the wrong directory`);
        const bytes = await readFile(path.join(dataDir, 'chunks', sub, name));
        t.is(bytes.length, 4 * 1024 * 1024, `${sub}/${name} has ${bytes.length} bytes`);
        t.is(sha256(bytes), name, `${sub}/${name} does not hash to its name`);
        files.push(name);
      }
    }
    t.deepEqual([...store.keys()].sort(), files.sort(), 'the index does not match the files on disk');
    for (const key of store.keys()) {
      const data = await store.get(key);
      t.is(sha256(data), key);
    }
    for (const key of acknowledged) t.true(store.has(key), `chunk ${key.slice(0, 16)} was acknowledged but is gone`);
    t.deepEqual(store.stats(), {
      chunks: files.length,
      bytes: files.length * 4 * 1024 * 1024,
      capacityBytes: store.stats().capacityBytes,
      corruptFound: 0,
      strayFound: 0,
    });
    t.deepEqual(await readdir(path.join(dataDir, 'corrupt')), []);
  }
  // The test must have exercised something: some writes finished across the rounds.
  t.true(acknowledged.size > 0, 'no put ever completed before the kill');
  t.log(`${acknowledged.size} chunks acknowledged over ${ROUNDS} rounds, ${leftoverTemps} interrupted temp file(s) cleaned`);
});
