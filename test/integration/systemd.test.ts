import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI, cli, eventually, sh, tmpDir } from '../helpers/index.js';

test('cell unit prints a template unit that systemd-analyze verifies without a word', async (t) => {
  const dir = await tmpDir(t);
  const r = await cli(['cell', 'unit', '--home', path.join(dir, 'home'), '--data-root', path.join(dir, 'cells'), '--user', 'root']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^Type=notify$/m);
  t.regex(r.stdout, new RegExp(`^ExecStart=${CLI} cell start --home ${path.join(dir, 'home')} --data ${path.join(dir, 'cells')}/%i \\$CELLSYNC_CELL_ARGS$`, 'm'));
  const unit = path.join(dir, 'cellsync-cell@.service');
  await writeFile(unit, r.stdout);
  const verified = await sh(`systemd-analyze verify "${unit}"`);
  t.is(verified.code, 0, verified.stderr);
  t.is(verified.stderr.trim(), '', 'no warning either');
  t.is((await cli(['cell', 'unit'])).code, 2, 'without --data-root: wrong usage');
});

test('a cell started by systemd (NOTIFY_SOCKET set) says READY=1 once it serves and STOPPING=1 on SIGTERM', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  t.is((await cli(['init', '--home', home])).code, 0);
  await mkdir(path.join(dir, 'cells'));
  // systemd's side: a Unix datagram socket that writes down what it is told, one message a line.
  const socket = path.join(dir, 'notify.sock');
  const heard = path.join(dir, 'heard.txt');
  const listener = spawn('python3', ['-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], 'a') as out:
    while True:
        out.write(s.recv(4096).decode().replace('\\n', ' ') + '\\n'); out.flush()
`, socket, heard], { stdio: ['ignore', 'ignore', 'inherit'] });
  t.teardown(() => void listener.kill('SIGKILL'));
  await eventually(async () => (await sh(`test -S "${socket}"`)).code === 0, 30_000, 'the notify socket');
  const cell = spawn(CLI, ['cell', 'start', '--home', home, '--data', path.join(dir, 'cells', 'one')], { env: { ...process.env, NOTIFY_SOCKET: socket }, stdio: 'ignore' });
  t.teardown(() => void cell.kill('SIGKILL'));
  const said = async () => (await sh(`cat "${heard}" 2>/dev/null`)).stdout;
  await eventually(async () => /READY=1/.test(await said()), 30_000, 'READY=1');
  t.regex(await said(), /STATUS=serving on 127\.0\.0\.1:\d+/);
  t.is((await cli(['swarm', 'status', '--home', home])).code, 0, 'it serves once it said so');
  const exited = new Promise<number | null>((resolve) => cell.once('exit', resolve));
  cell.kill('SIGTERM');
  t.is(await exited, 0, 'an orderly stop');
  t.regex(await said(), /STOPPING=1/);
});
