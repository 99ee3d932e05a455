/**
 * bench:membership — how fast real cell processes on loopback see a failure,
 * the full-mesh heartbeat beside SWIM in the same run:
 *  - SIGKILL of a cell: time until every other cell holds it dead;
 *  - SIGSTOP of a cell (hung): time until some cell suspects it, and until
 *    every other cell holds it dead; after SIGCONT it must come back.
 * Each cell is asked for its own view (MEMBERS) every POLL_MS.
 * BENCH_CELLS (default 8) cells, BENCH_ROUNDS (default 5) kills and 3 stops per detector.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI, run } from './run.js';
import { connectSwarm } from '../src/connect/index.js';
import type { Addr } from '../src/core/index.js';
import type { SwarmClient } from '../src/client/index.js';
import { Messages, type ListedMember } from '../src/wire/index.js';

const CELLS = Number(process.env.BENCH_CELLS ?? 8);
const KILLS = Number(process.env.BENCH_ROUNDS ?? 5);
const STOPS = 3;
const POLL_MS = 20;
const WAIT_MS_MAX = 60_000;
const DETECTORS = ['mesh', 'swim'] as const;

interface Cell {
  addr: Addr;
  data: string;
  port: number;
  id: string;
}

interface Figures {
  killDeadS: number[];
  stopSuspectS: number[];
  stopDeadS: number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Each cell's view of id (null where a cell did not answer). */
async function views(client: SwarmClient, of: Cell[], id: string): Promise<(ListedMember | null)[]> {
  return Promise.all(
    of.map(async (c) => {
      const list = await client.endpoint.call(c.addr, Messages.MEMBERS, undefined, { timeoutMs: 500 }).catch(() => null);
      return list?.find((m) => m.id === id) ?? null;
    }),
  );
}

/** Seconds from t0 until cond holds over the views of `of`. */
async function timeUntil(client: SwarmClient, of: Cell[], id: string, t0: number, cond: (v: (ListedMember | null)[]) => boolean): Promise<number> {
  for (;;) {
    if (cond(await views(client, of, id))) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > WAIT_MS_MAX) throw new Error(`gave up after ${WAIT_MS_MAX} ms`);
    await sleep(POLL_MS);
  }
}

const all = (state: string) => (v: (ListedMember | null)[]) => v.every((m) => m?.state === state);

async function measure(detector: (typeof DETECTORS)[number], dir: string): Promise<Figures> {
  const home = path.join(dir, detector);
  await run(CLI, ['swarm', 'up', '--home', home, '--cells', String(CELLS), '--base-port', '0', '--role', 'storage', '--membership', detector]);
  const client = await connectSwarm({ swarmKey: await readFile(path.join(home, 'swarm.key')) });
  try {
    const listed = (JSON.parse(await readFile(path.join(home, 'swarm.json'), 'utf8')) as { cells: { host: string; port: number; data: string }[] }).cells;
    const cells: Cell[] = await Promise.all(
      listed.map(async (c) => ({
        addr: `${c.host}:${c.port}`,
        data: c.data,
        port: c.port,
        id: (JSON.parse(await readFile(path.join(c.data, 'identity.json'), 'utf8')) as { id: string }).id,
      })),
    );
    const pidOf = async (c: Cell) => Number((await readFile(path.join(c.data, 'cell.pid'), 'utf8')).trim());
    const aliveEverywhere = async (c: Cell) => timeUntil(client, cells.filter((x) => x !== c), c.id, performance.now(), all('alive'));
    for (const c of cells) await aliveEverywhere(c);

    const f: Figures = { killDeadS: [], stopSuspectS: [], stopDeadS: [] };
    for (let round = 0; round < KILLS; round++) {
      const victim = cells[1 + (round % (cells.length - 1))]!;
      const others = cells.filter((c) => c !== victim);
      process.kill(await pidOf(victim), 'SIGKILL');
      f.killDeadS.push(await timeUntil(client, others, victim.id, performance.now(), all('dead')));
      await run(CLI, ['cell', 'start', '--home', home, '--data', victim.data, '--port', String(victim.port), '--daemon', '--membership', detector]);
      await aliveEverywhere(victim);
    }
    for (let round = 0; round < STOPS; round++) {
      const hung = cells[cells.length - 1 - round]!;
      const others = cells.filter((c) => c !== hung);
      const pid = await pidOf(hung);
      process.kill(pid, 'SIGSTOP');
      const t0 = performance.now();
      try {
        f.stopSuspectS.push(await timeUntil(client, others, hung.id, t0, (v) => v.some((m) => m !== null && m.state !== 'alive')));
        f.stopDeadS.push(await timeUntil(client, others, hung.id, t0, all('dead')));
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await aliveEverywhere(hung);
    }
    return f;
  } finally {
    await client.close();
    await run(CLI, ['swarm', 'down', '--home', home]).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cellsync-bench-membership-'));
  try {
    const results = new Map<string, Figures>();
    for (const d of DETECTORS) results.set(d, await measure(d, dir));
    const [mesh, swim] = [results.get('mesh')!, results.get('swim')!];
    const row = (what: string, pick: (f: Figures) => number[], target: string) => {
      const [m, s] = [median(pick(mesh)), median(pick(swim))];
      const worst = Math.max(...pick(swim));
      console.log(`${what.padEnd(40)} ${m.toFixed(2).padStart(6)} s  ${s.toFixed(2).padStart(6)} s (max ${worst.toFixed(2)})  ${(m / s).toFixed(1).padStart(5)}x   ${target}`);
    };
    console.log(`bench:membership  ${CELLS} cell processes on loopback; medians of ${KILLS} kills and ${STOPS} stops`);
    console.log(`${''.padEnd(40)} ${'mesh'.padStart(8)}  ${'swim'.padStart(8)}              mesh/swim  target (swim)`);
    row('SIGKILL -> dead in every view', (f) => f.killDeadS, '<= 0.5 s median');
    row('SIGSTOP -> suspected somewhere', (f) => f.stopSuspectS, '<= 3 s');
    row('SIGSTOP -> dead in every view', (f) => f.stopDeadS, '<= 6 s');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench:membership failed: ${(err as Error).message}`);
  process.exit(1);
});
