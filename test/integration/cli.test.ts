import test from 'ava';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { cli, isAlive, swarmCells, swarmUp, tmpDir } from '../helpers/index.js';

test('--help explains every command and exits 0', async (t) => {
  for (const args of [['--help'], ['swarm', 'up', '--help'], ['cell', 'start', '--help'], ['init', '--help'], ['help', 'put'], ['gc', '--help']]) {
    const r = await cli(args);
    t.is(r.code, 0, args.join(' '));
    t.regex(r.stdout, /Usage: cellsync/);
  }
});

test('wrong use prints what to do and exits 2', async (t) => {
  for (const args of [[], ['bogus'], ['swarm', 'up', '--cells', 'many'], ['cell', 'start'], ['cell', 'start', '--data', 'x', '--join', 'nonsense']]) {
    const r = await cli(args);
    t.is(r.code, 2, `cellsync ${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /help|error|Usage/i);
  }
});

test('a runtime failure exits 1 with one clear line', async (t) => {
  const home = path.join(await tmpDir(t), 'nothing');
  const r = await cli(['swarm', 'status', '--home', home]);
  t.is(r.code, 1);
  t.is(r.stderr.trim().split('\n').length, 1);
  t.regex(r.stderr, /cellsync init/);
  const stop = await cli(['cell', 'stop', '--data', path.join(home, 'missing')]);
  t.is(stop.code, 1);
  t.regex(stop.stderr, /is not a data directory/);
  const down = await cli(['swarm', 'down', '--home', home]);
  t.is(down.code, 1, 'swarm down of a home that is not one');
  t.regex(down.stderr, /has no swarm key: check --home/);
  const real = path.join(path.dirname(home), 'real');
  await cli(['init', '--home', real]);
  const put = await cli(['put', '--home', real, path.join(real, 'no-such-file')]);
  t.is(put.code, 1);
  t.regex(put.stderr, /^cellsync: .*no-such-file: no such file\n$/);
});

test('init writes a 32-byte key readable only by its owner, and refuses to overwrite it', async (t) => {
  const home = path.join(await tmpDir(t), 'home');
  t.is((await cli(['init', '--home', home])).code, 0);
  const key = path.join(home, 'swarm.key');
  t.is((await readFile(key)).length, 32);
  t.is((await stat(key)).mode & 0o777, 0o600);
  t.truthy(JSON.parse(await readFile(path.join(home, 'swarm.json'), 'utf8')).cells);
  const again = await cli(['init', '--home', home]);
  t.is(again.code, 1);
  t.regex(again.stderr, /already initialized/);
});

test('a daemon cell keeps its id across restarts with a higher incarnation, logs its events with their date, and one data dir serves one cell', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const data = path.join(home, 'cells', 'a');
  t.teardown(async () => {
    await cli(['cell', 'stop', '--home', home, '--data', data]);
  });
  await cli(['init', '--home', home]);
  const start = () => cli(['cell', 'start', '--home', home, '--data', data, '--daemon']);
  const first = await start();
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /cell [0-9a-f]{16} serving on 127\.0\.0\.1:\d+/);
  const id1 = JSON.parse(await readFile(path.join(data, 'identity.json'), 'utf8'));
  const pid = Number(await readFile(path.join(data, 'cell.pid'), 'utf8'));
  t.true(isAlive(pid));
  const clash = await start();
  t.is(clash.code, 1);
  t.regex(clash.stderr, new RegExp(`in use by a live cell \\(pid ${pid}\\)`));
  const stop = await cli(['cell', 'stop', '--home', home, '--data', data]);
  t.is(stop.code, 0);
  t.false(isAlive(pid), 'cell stop waits for the exit');
  const log = await readFile(path.join(data, 'cell.log'), 'utf8');
  t.regex(log, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z cell-started [0-9a-f]{8} incarnation 1$/m, 'events in the log, stamped with date and time');
  t.regex(log, /Z cell [0-9a-f]{16} stopped$/m);
  t.is((await start()).code, 0);
  const id2 = JSON.parse(await readFile(path.join(data, 'identity.json'), 'utf8'));
  t.is(id2.id, id1.id);
  t.is(id2.incarnation, id1.incarnation + 1);
});

test('--print-config shows the effective settings, env overrides included', async (t) => {
  const r = await cli(['cell', 'start', '--data', '/nonexistent', '--print-config'], { env: { CELLSYNC_HEARTBEAT_MS: '500', CELLSYNC_FAILURE_TIMEOUT_MS: '2000' } });
  t.is(r.code, 0, r.stderr);
  const c = JSON.parse(r.stdout);
  t.is(c.membership.heartbeatIntervalMs, 500);
  t.is(c.membership.failureTimeoutMs, 2000);
  const bad = await cli(['cell', 'start', '--data', '/x', '--print-config', '--heartbeat-ms', '3000']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /exceed 3 heartbeat/);
});

test.serial('cell start --join: a cell that hears from no cell (another swarm there) warns, and one that joins does not', async (t) => {
  const a = await swarmUp(t, 1);
  const b = await swarmUp(t, 1);
  const [cellA] = await swarmCells(a);
  const [cellB] = await swarmCells(b);
  const wrong = await cli(['cell', 'start', '--home', b, '--data', path.join(b, 'x1'), '--port', '0', '--join', `${cellA!.host}:${cellA!.port}`, '--daemon']);
  t.is(wrong.code, 0, 'the cell runs and keeps trying');
  t.regex(wrong.stderr, /warning: no cell at 127\.0\.0\.1:\d+ has answered in 5 s.*swarm\.key/);
  const right = await cli(['cell', 'start', '--home', b, '--data', path.join(b, 'x2'), '--port', '0', '--join', `${cellB!.host}:${cellB!.port}`, '--daemon']);
  t.is(right.code, 0);
  // Nothing but progress lines, if the machine is slow: no warning.
  t.deepEqual(right.stderr.split('\n').filter((l) => l.startsWith('cellsync:')), []);
});
