import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI, cli, exited, watch, mountSwarm, pidOf, randomFile, swarmCells, swarmUp, tmpDir, type CliResult } from '../helpers/index.js';

/*
 * Common mistakes, each as a user makes it: one clear line saying what is
 * wrong and what to do, the right exit code (2 for wrong use, 1 when the
 * command could not be done), and no stack trace.
 */

function oneClearLine(t: ExecutionContext, r: CliResult, code: number, re: RegExp): void {
  t.is(r.code, code, r.stderr);
  t.regex(r.stderr, re);
  t.notRegex(r.stderr, /\n\s+at |node:internal|Error:/, 'no stack trace');
  // eslint-disable-next-line no-control-regex
  t.notRegex(r.stderr, /[\u0000-\u0008\u000e-\u001f\u007f-\uffff]/, 'printable text only');
}

/** A second home holding another swarm key, listing the same cells. */
async function otherKeyHome(t: ExecutionContext, home: string): Promise<string> {
  const other = path.join(await tmpDir(t), 'other');
  t.is((await cli(['init', '--home', other])).code, 0);
  await copyFile(path.join(home, 'swarm.json'), path.join(other, 'swarm.json'));
  return other;
}

test.serial('a wrong swarm key is said as such, not as an outage', async (t) => {
  const home = await swarmUp(t, 3);
  const other = await otherKeyHome(t, home);
  const wrongKey = /cells at 127\.0\.0\.1:\d+(, 127\.0\.0\.1:\d+)* answer but not with this swarm's key/;
  oneClearLine(t, await cli(['swarm', 'status', '--home', other]), 1, wrongKey);
  const dir = await tmpDir(t);
  oneClearLine(t, await cli(['put', '--home', other, await randomFile(dir, 'f', 1000)]), 1, wrongKey);
  const top = watch(t, CLI, ['top', '--home', other, '--plain']);
  await top.waitFor(/no cell answered for \d+ s: cells at 127\.0\.0\.1:\d+.* answer but not with this swarm's key/, 10_000, 'top naming the key');
  top.child.kill('SIGINT');
  t.is(await exited(top.child), 0);
  // The same cells with the right key answer as ever; after swarm down, the other home hears silence, not a key.
  t.is((await cli(['swarm', 'status', '--home', home])).code, 0);
  t.is((await cli(['swarm', 'down', '--home', home])).code, 0);
  const r = await cli(['swarm', 'status', '--home', other]);
  t.is(r.code, 1);
  t.regex(r.stderr, /no cell answered/);
  t.notRegex(r.stderr, /key/);
});

test.serial('get of an unknown id says "no file with id", also while a cell does not answer', async (t) => {
  const home = await swarmUp(t, 3);
  const unknown = randomBytes(32).toString('hex');
  oneClearLine(t, await cli(['get', '--home', home, unknown]), 1, new RegExp(`no file with id ${unknown} in this swarm`));
  // A cell SIGKILLed just now: its peers have not marked it dead yet, so it is asked and does not answer.
  process.kill(await pidOf((await swarmCells(home))[1]!), 'SIGKILL');
  const r = await cli(['get', '--home', home, unknown], { env: { CELLSYNC_LOCAL: '0' } });
  oneClearLine(t, r, 1, new RegExp(`no file with id ${unknown}`));
  t.notRegex(r.stderr, /timed out|could be read/, 'no chunk timeout blamed on a cell');
});

test.serial('get -o into a directory that does not exist: one line, exit 2, nothing asked of the swarm', async (t) => {
  const home = await swarmUp(t, 3);
  const dir = await tmpDir(t);
  const put = await cli(['put', '--home', home, await randomFile(dir, 'f', 1000)]);
  const id = put.stdout.trim();
  const r = await cli(['get', '--home', home, id, '-o', path.join(dir, 'missing', 'out')]);
  oneClearLine(t, r, 2, /cannot write there: .*missing does not exist/);
  t.is(r.stderr.trim().split('\n').length, 2, 'the line and the usage hint');
  t.is((await cli(['get', '--home', home, id, '-o', path.join(dir, 'out')])).code, 0);
  t.deepEqual(await readFile(path.join(dir, 'out')), await readFile(path.join(dir, 'f')));
});

test.serial('--host 0.0.0.0 is refused as an advertised address, with what to use instead (exit 2)', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  for (const args of [
    ['cell', 'start', '--home', home, '--data', path.join(dir, 'cell'), '--host', '0.0.0.0'],
    ['swarm', 'up', '--home', home, '--host', '0.0.0.0'],
    ['swarm', 'up', '--home', home, '--host', '::'],
  ]) {
    oneClearLine(t, await cli(args), 2, /means "every address" and cannot be advertised[^]*Use 127\.0\.0\.1 for a swarm on this machine, or this machine's address/);
  }
  t.is((await readFile(path.join(home, 'swarm.json')).catch(() => null)), null, 'nothing started or written');
});

test.serial('a test-only option reaches the cell but is never written to swarm.json', async (t) => {
  const home = await swarmUp(t, 1, ['--test-false-alert-ms', '3600000']);
  const cmdline = await readFile(`/proc/${await pidOf((await swarmCells(home))[0]!)}/cmdline`, 'utf8');
  t.regex(cmdline, /--test-false-alert-ms\u00003600000/);
  const saved = await readFile(path.join(home, 'swarm.json'), 'utf8');
  t.notRegex(saved, /--test-/);
  t.regex(saved, /--replicas/, 'the other settings are saved');
});

test.serial('swarm.json: a port of "abc" and a garbage file are reported clearly, raw bytes never echoed', async (t) => {
  const home = path.join(await tmpDir(t), 'home');
  t.is((await cli(['init', '--home', home])).code, 0);
  const file = path.join(home, 'swarm.json');
  await writeFile(file, JSON.stringify({ version: 1, createdAtMs: 1, cells: [{ name: 'cell-1', data: '/tmp/x', host: '127.0.0.1', port: 'abc' }] }));
  for (const cmd of [['swarm', 'status'], ['top', '--plain'], ['swarm', 'up']]) {
    oneClearLine(t, await cli([...cmd, '--home', home]), 1, /swarm\.json is damaged:\n\s+cells\[0\]\.port: expected a whole number from 0 to 65535, found "abc"/);
  }
  await writeFile(file, Buffer.concat([Buffer.from('{"version":1,"cells":[\u0001'), randomBytes(300)]));
  const r = await cli(['swarm', 'status', '--home', home]);
  oneClearLine(t, r, 1, /swarm\.json is damaged: not valid JSON; fix it, or move it away/);
  t.is(r.stderr.trim().split('\n').length, 1);
});

test.serial('a busy umount names the processes that hold the mount', async (t) => {
  const home = await swarmUp(t, 3);
  const { mnt } = await mountSwarm(t, home);
  await writeFile(path.join(mnt, 'held'), 'x');
  // One process sits in the mount, another keeps a file open there.
  const inside = spawn('sleep', ['60'], { cwd: mnt, stdio: 'ignore' });
  const holder = spawn('bash', ['-c', `exec 3<"${mnt}/held"; sleep 60`], { stdio: 'ignore' });
  t.teardown(() => {
    inside.kill('SIGKILL');
    holder.kill('SIGKILL');
  });
  const r = await cli(['umount', mnt]);
  oneClearLine(t, r, 1, new RegExp(`is busy: used by .*pid ${inside.pid} \\(sleep, cwd\\)`));
  t.regex(r.stderr, new RegExp(`pid ${holder.pid} \\(\\w+, open file\\)`));
  inside.kill('SIGKILL');
  holder.kill('SIGKILL');
  await Promise.all([exited(inside), exited(holder)]);
  t.is((await cli(['umount', mnt])).code, 0, 'free again, it unmounts');
});
