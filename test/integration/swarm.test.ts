import test from 'ava';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { connectSwarm } from '../../src/connect/index.js';
import type { CellStatus } from '../../src/cell/index.js';
import { defaultConfig } from '../../src/core/index.js';
import { cellPids, cli, eventually, isAlive, swarmUp } from '../helpers/index.js';

interface StatusJson {
  cells: { id: string; addr: string; pid: number; role: string; state: string; chunks: number; bytes: number; lastHeardMs: number }[];
}

async function statusJson(home: string): Promise<StatusJson> {
  const r = await cli(['swarm', 'status', '--home', home, '--json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as StatusJson;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

test.serial('a 5-cell swarm: all alive; a SIGKILLed cell is dead within timeout + one heartbeat; it restarts as itself; down leaves nothing', async (t) => {
  const home = await swarmUp(t, 5);
  const swarm = JSON.parse(await readFile(path.join(home, 'swarm.json'), 'utf8')) as { cells: { data: string; port: number }[] };
  t.is(swarm.cells.length, 5);

  const all = await eventually<StatusJson | false>(async () => {
    const s = await statusJson(home);
    return s.cells.length === 5 && s.cells.every((c) => c.state === 'alive' && c.role === 'storage' && c.pid > 0) && s;
  }, 10_000, 'all 5 alive');
  if (!all) return;
  t.is(new Set(all.cells.map((c) => c.id)).size, 5);

  const victim = swarm.cells[2]!;
  const victimPid = Number(await readFile(path.join(victim.data, 'cell.pid'), 'utf8'));
  const victimId = JSON.parse(await readFile(path.join(victim.data, 'identity.json'), 'utf8')).id as string;
  const key = await readFile(path.join(home, 'swarm.key'));
  const client = await connectSwarm({ swarmKey: key });
  t.teardown(() => client.close());
  const others = swarm.cells.filter((c) => c !== victim).map((c) => `127.0.0.1:${c.port}`);

  process.kill(victimPid, 'SIGKILL');
  const killedAt = Date.now();
  // Every surviving cell must see it dead, each from its own heartbeats.
  await eventually(async () => {
    const views = await Promise.all(others.map(async (a) => (await client.status([a])) as CellStatus));
    return views.every((v) => v.members.find((m) => m.id === victimId)?.state === 'dead');
  }, 15_000, 'the victim dead in every view', 100);
  const detectMs = Date.now() - killedAt;
  const m = defaultConfig().membership;
  t.log(`dead in every view ${detectMs} ms after SIGKILL`);
  // Polling adds up to one status round; allow 500 ms for it.
  t.true(detectMs <= m.failureTimeoutMs + m.heartbeatIntervalMs + 500, `detected after ${detectMs} ms`);

  const restart = await cli(['cell', 'start', '--home', home, '--data', victim.data, '--port', String(victim.port), '--daemon']);
  t.is(restart.code, 0, restart.stderr);
  t.regex(restart.stdout, new RegExp(victimId));
  await eventually(async () => {
    const s = await statusJson(home);
    return s.cells.filter((c) => c.id === victimId).length === 1 && s.cells.every((c) => c.state === 'alive');
  }, 10_000, 'the restarted cell alive again');

  const pids = await cellPids(home);
  const down = await cli(['swarm', 'down', '--home', home]);
  t.is(down.code, 0);
  t.regex(down.stdout, /5 cells stopped/);
  t.true(pids.every((p) => !isAlive(p)), 'no cell process left');
  for (const c of swarm.cells) t.true(await canBind(c.port), `port ${c.port} is free again`);
  const status = await cli(['swarm', 'status', '--home', home]);
  t.is(status.code, 1, 'nobody answers once the swarm is down');
});
