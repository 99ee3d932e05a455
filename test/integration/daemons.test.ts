import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI, cli, eventually, isAlive, pidOf, randomFile, sh, swarmCells, swarmUp, tmpDir } from '../helpers/index.js';

/** The --capacity a running cell was started with, from its command line. */
async function capacityOf(data: string): Promise<string | undefined> {
  const pid = Number((await sh(`cat "${data}/cell.pid"`)).stdout.trim());
  const args = (await sh(`tr '\\0' ' ' < /proc/${pid}/cmdline`)).stdout.split(' ');
  return args[args.lastIndexOf('--capacity') + 1];
}

test.serial('cells started again keep their settings and address: swarm down and up (all recorded cells, no more), and cell start --daemon after SIGKILL', async (t) => {
  const home = await swarmUp(t, 3, ['--capacity', '8388608']);
  t.is((await cli(['swarm', 'down', '--home', home])).code, 0);
  // No --cells: the cells recorded, not the default of 5 for a new swarm.
  const up = await cli(['swarm', 'up', '--home', home, '--base-port', '0', '--role', 'storage']);
  t.is(up.code, 0, up.stderr);
  t.regex(up.stdout, /swarm of 3 cells up/);
  const cells = await swarmCells(home);
  t.is(cells.length, 3);
  for (const c of cells) t.is(await capacityOf(c.data), '8388608', `${c.name} after swarm up`);
  const victim = cells[2]!;
  process.kill(await pidOf(victim), 'SIGKILL');
  await eventually(async () => !isAlive(await pidOf(victim)), 5_000, 'the cell to die');
  const start = await cli(['cell', 'start', '--home', home, '--data', victim.data, '--daemon']);
  t.is(start.code, 0, start.stderr);
  t.regex(start.stdout, new RegExp(`serving on ${victim.host}:${victim.port} `), 'the same address');
  t.is(await capacityOf(victim.data), '8388608');
});

test.serial('a pid file naming an unrelated live process (a pid reused after a crash) is not the cell: it is started, the process is left alone', async (t) => {
  const home = await swarmUp(t, 2);
  const cell = (await swarmCells(home))[1]!;
  process.kill(await pidOf(cell), 'SIGKILL');
  const other = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => other.kill('SIGKILL'));
  await eventually(async () => {
    await writeFile(path.join(cell.data, 'cell.pid'), `${other.pid}\n`);
    return (await sh(`cat "${cell.data}/cell.pid"`)).stdout.trim() === String(other.pid);
  }, 5_000, 'pid file rewritten');
  const up = await cli(['swarm', 'up', '--home', home, '--cells', '2', '--base-port', '0', '--role', 'storage']);
  t.is(up.code, 0, up.stderr);
  t.notRegex(up.stdout, /cell-2 +already running/);
  t.true(isAlive(other.pid!), 'the unrelated process was not touched');
  t.not(await pidOf(cell), other.pid);
});

test.serial('output into a closed pipe ends quietly; chaos stopped with Ctrl-C starts again the cells it killed', async (t) => {
  const src = await tmpDir(t);
  const home = await swarmUp(t, 3);
  const file = await randomFile(src, 'big', 3_000_000);
  const put = await cli(['put', '--home', home, file]);
  t.is(put.code, 0, put.stderr);
  const id = put.stdout.trim();
  const piped = await sh(`"${CLI}" get --home "${home}" ${id} | head -c 10 >/dev/null; echo "get \${PIPESTATUS[0]}"; "${CLI}" swarm status --home "${home}" | head -1 >/dev/null; echo "status \${PIPESTATUS[0]}"`);
  t.is(piped.stdout.trim(), 'get 141\nstatus 0');
  t.is(piped.stderr, '', 'no stack trace');

  const chaos = spawn(CLI, ['chaos', '--home', home, '--duration', '60', '--kill-every', '1', '--restart-after', '30', '--corrupt-every', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  chaos.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(() => /kill cell-/.test(out), 15_000, 'a kill');
  chaos.kill('SIGINT');
  const code = await new Promise<number | null>((r) => chaos.once('exit', r));
  t.is(code, 0, out);
  t.regex(out, /restart cell-\d: started again/);
  for (const c of await swarmCells(home)) t.true(isAlive(await pidOf(c)), `${c.name} runs`);
});

test('umount refuses a mount that is not CellSync’s', async (t) => {
  const dir = await tmpDir(t);
  t.is((await sh(`mount -t tmpfs none "${dir}"`)).code, 0);
  t.teardown(() => sh(`umount "${dir}"`));
  const r = await cli(['umount', dir]);
  t.is(r.code, 1);
  t.regex(r.stderr, /is not a CellSync mount/);
  t.is((await sh(`grep -c " ${dir} " /proc/mounts`)).stdout.trim(), '1', 'still mounted');
});

test.serial('put asking for more copies than there are storage cells stores the file and says how many copies it has', async (t) => {
  const src = await tmpDir(t);
  const home = await swarmUp(t, 3);
  const file = await randomFile(src, 'f', 100_000);
  const r = await cli(['put', '--home', home, '--replicas', '5', file]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /only 3 storage cells: each chunk has 3 copies, not 5/);
  const get = await sh(`"${CLI}" get --home "${home}" ${r.stdout.trim()} | cmp - "${file}"`);
  t.is(get.code, 0, get.stderr);
});

test.serial('a cell retired for good: cell forget drops it from every cell and swarm.json, and gc runs again; a storage cell restarted as a guard hands its chunks over and drops them', async (t) => {
  const dir = await tmpDir(t);
  const timing = ['--heartbeat-ms', '300', '--failure-timeout-ms', '1200', '--anti-entropy-ms', '1000'];
  const home = await swarmUp(t, 5, timing);
  t.is((await cli(['put', '--home', home, await randomFile(dir, 'data', 6 * 1024 * 1024)])).code, 0);
  const [, , , guardToBe, retired] = await swarmCells(home);
  const status = async () => JSON.parse((await cli(['swarm', 'status', '--home', home, '--json'])).stdout) as { cells: { id: string; addr: string; state: string; role: string; chunks: number }[] };
  const idOf = async (addr: string) => (await status()).cells.find((c) => c.addr === addr)!.id;
  const retiredAddr = `${retired!.host}:${retired!.port}`;
  const retiredId = await idOf(retiredAddr);
  t.is((await cli(['cell', 'stop', '--home', home, '--data', retired!.data])).code, 0);
  // Stopped in order, it said goodbye: held 'left' (expected back), not dead.
  await eventually(async () => (await status()).cells.find((c) => c.id === retiredId)?.state === 'left', 15_000, 'the stopped cell to be left');
  t.regex((await cli(['gc', '--home', home, '--dry-run'])).stderr, /cell forget/, 'gc refuses, and says how to retire the cell');
  const forgot = await cli(['cell', 'forget', '--home', home, retiredId.slice(0, 8)]);
  t.is(forgot.code, 0, forgot.stderr);
  t.regex(forgot.stdout, /forgot cell .*: 4 of 4 cells dropped it/);
  t.false((await status()).cells.some((c) => c.id === retiredId));
  t.false((await swarmCells(home)).some((c) => c.name === retired!.name), 'swarm up will not start it again');
  const gc = await cli(['gc', '--home', home, '--dry-run']);
  t.is(gc.code, 0, gc.stderr);
  // A storage cell started again as a guard: no placement sends readers to it, so what it holds goes home.
  const guardAddr = `${guardToBe!.host}:${guardToBe!.port}`;
  t.is((await cli(['cell', 'stop', '--home', home, '--data', guardToBe!.data])).code, 0);
  t.is((await cli(['cell', 'start', '--home', home, '--data', guardToBe!.data, '--role', 'guard', '--daemon'])).code, 0);
  await eventually(async () => (await status()).cells.find((c) => c.addr === guardAddr)?.chunks === 0, 20_000, 'the guard to drop its chunks');
  await eventually(async () => {
    const r = JSON.parse((await cli(['fsck', '--home', home, '--json'])).stdout) as { underReplicated: number; missing: number; healthy: number; chunks: number };
    return r.underReplicated === 0 && r.missing === 0 && r.healthy === r.chunks;
  }, 20_000, 'every chunk at R on the storage cells');
});

test.serial('swarm up gives new cells ports that no recorded cell has (one started by hand on base + 1)', async (t) => {
  const home = path.join(await tmpDir(t), 'home');
  t.teardown(() => cli(['swarm', 'down', '--home', home]).then(() => undefined));
  const base = 20_000 + (process.pid % 20_000);
  t.is((await cli(['init', '--home', home])).code, 0);
  const byHand = await cli(['cell', 'start', '--home', home, '--data', path.join(home, 'by-hand'), '--port', String(base + 1), '--daemon']);
  t.is(byHand.code, 0, byHand.stderr);
  const up = await cli(['swarm', 'up', '--home', home, '--cells', '3', '--base-port', String(base), '--role', 'storage']);
  t.is(up.code, 0, up.stderr);
  t.deepEqual((await swarmCells(home)).map((c) => c.port).sort(), [base, base + 1, base + 2]);
});
