/**
 * bench:sim — the membership detectors (full-mesh heartbeat and SWIM) and
 * placement at 10 to 10,000 cells on the in-memory network with simulated
 * time, seeded: the same seed prints the same figures. See --help.
 */
import { parseArgs } from 'node:util';
import { defaultConfig, seededRng, type CellConfig, type MembershipDetector } from '../src/core/index.js';
import { replicaSet, type Candidate } from '../src/placement/index.js';
import { DETECTORS, MembershipSim } from './membership-sim.js';

const HELP = `npm run bench:sim [-- options]

Runs the real membership code (mesh heartbeat and SWIM) and placement on the
in-memory network with a simulated clock, seeded and deterministic.

  --cells N         one swarm size (default: 10, 100, 1000 and 10000 in turn)
  --detector D      mesh or swim (default: both, side by side)
  --seed S          seed of the run (default 1)
  --hour-cells N    swarm size of the simulated-hour false-alarm runs (default 100)
  --hour-ms MS      simulated time of those runs (default 3600000: one hour; 0 skips them)
  --datagram-bytes B  largest datagram a cell sends (default: the cells' default)
  --help            this text

Per size, detector and loss (0% and 5%): datagrams and bytes sent per cell
per second (steady state), the time until every cell knows of a silent death
(isolated host) and of a death with evidence (process gone: transport
closed), median and p99 over the trials, and the time for a join to reach
every cell. Per detector: false suspicions and false deaths per simulated
hour at 5% loss, alone and with one slow cell. Per size: the share of chunk
keys placement moves when one cell joins or leaves (about R/N).`;

/** Largest swarm the full-mesh detector is run at: beyond, N² heartbeats of up to 256 listed members each. */
const MESH_CELLS_MAX = 100;
/** Steady-state traffic is measured over this much simulated time. */
const TRAFFIC_WINDOW_MS = 10_000;
/**
 * Deaths measured per kind and size: fewer in large swarms. A silent death at 10,000 cells
 * is 8 simulated seconds of suspicion re-gossiped at each confirmation: minutes of real time.
 */
const deathTrials = (cells: number, kind: 'silent' | 'closed') =>
  Math.min(cells >= 10_000 ? (kind === 'silent' ? 1 : 3) : cells >= 1_000 ? 5 : 10, Math.floor(cells / 5));
/** Simulated time allowed for a death or a join to reach everyone. */
const SPREAD_MS_MAX = 60_000;
/** Rendezvous hashes spent per size measuring placement moves (keys × cells × 3 runs). */
const PLACEMENT_HASHES = 3_000_000;
/** Extra delay of the slow cell's datagrams, uniform up to this (ms). */
const SLOW_CELL_DELAY_MS_MAX = 1_000;

const { values: opts } = parseArgs({
  options: {
    cells: { type: 'string' },
    detector: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'hour-cells': { type: 'string', default: '100' },
    'hour-ms': { type: 'string', default: String(3_600_000) },
    'datagram-bytes': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

/** The cells' configuration as the options change it. */
const changeConfig = (c: CellConfig) => {
  if (opts['datagram-bytes'] !== undefined) c.wire.datagramBytesMax = Number(opts['datagram-bytes']);
};

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};
const ms = (x: number | null) => (x === null ? 'never' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);
const num = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

type Death = Awaited<ReturnType<MembershipSim['timeUntilKnownDead']>>;

interface SizeFigures {
  datagramsPerCellPerS: number;
  bytesPerCellPerS: number;
  silent: Death[];
  evidence: Death[];
  join: number | null;
  periodMs: number;
  realS: number;
}

/** One swarm: boot, steady traffic, deaths silent and with evidence, one join. */
async function measureSwarm(detector: MembershipDetector, cells: number, lossRate: number, seed: number): Promise<SizeFigures> {
  const real0 = performance.now();
  const sim = new MembershipSim({ detector, cells, seed, config: changeConfig });
  if (!(await sim.boot())) throw new Error(`${detector} at ${cells} cells: some view missed a member after boot`);
  sim.net.lossRate = lossRate;
  await sim.run(sim.periodMs * 2); // the loss settles in before the window
  const before = sim.sent();
  const running = sim.running().length;
  await sim.run(TRAFFIC_WINDOW_MS);
  const after = sim.sent();
  const perCellPerS = (n: number) => (n * 1000) / running / TRAFFIC_WINDOW_MS;

  const victims = () => {
    const live = sim.running();
    return live[sim.rng.int(live.length)]!;
  };
  const silent: Death[] = [];
  const evidence: Death[] = [];
  for (let i = 0; i < deathTrials(cells, 'silent'); i++) silent.push(await sim.timeUntilKnownDead(victims(), 'silent', SPREAD_MS_MAX));
  for (let i = 0; i < deathTrials(cells, 'closed'); i++) evidence.push(await sim.timeUntilKnownDead(victims(), 'closed', SPREAD_MS_MAX));
  const join = await sim.timeUntilJoinKnown(SPREAD_MS_MAX);
  await sim.stop();
  return {
    datagramsPerCellPerS: perCellPerS(after.datagrams - before.datagrams),
    bytesPerCellPerS: perCellPerS(after.bytes - before.bytes),
    silent,
    evidence,
    join,
    periodMs: sim.periodMs,
    realS: (performance.now() - real0) / 1000,
  };
}

/** False suspicions and deaths of running cells over hourMs at 5% loss, with or without one slow cell; per simulated hour. */
async function measureFalseAlarms(detector: MembershipDetector, cells: number, hourMs: number, seed: number, withSlowCell: boolean) {
  const real0 = performance.now();
  const sim = new MembershipSim({ detector, cells, seed, config: changeConfig });
  if (!(await sim.boot())) throw new Error(`${detector} at ${cells} cells: some view missed a member after boot`);
  sim.net.lossRate = 0.05;
  if (withSlowCell) {
    sim.slowCell = sim.cells[sim.rng.int(sim.cells.length)]!;
    sim.net.slow(sim.slowCell.addr, SLOW_CELL_DELAY_MS_MAX);
  }
  sim.resetAlarms();
  await sim.run(hourMs);
  const perHour = (n: number) => (n * 3_600_000) / hourMs;
  const { ofHealthy, ofSlowCell } = sim.alarms;
  await sim.stop();
  const line = (of: typeof ofHealthy) =>
    `${num(perHour(of.suspected.episodes))} suspicions (${num(perHour(of.suspected.events))} cells' events), ` +
    `${num(perHour(of.died.episodes))} deaths (${num(perHour(of.died.events))} events)`;
  return { healthy: line(ofHealthy), slowCell: line(ofSlowCell), falseDeaths: ofHealthy.died.events, realS: (performance.now() - real0) / 1000 };
}

/** Share of keys whose replica set changes when one cell joins, and when one leaves (rendezvous, R from the config). */
function placementMoves(cells: number, seed: number) {
  const replicas = defaultConfig().placement.replicas;
  const rng = seededRng(seed);
  const hex = (bytes: number) => Array.from({ length: bytes }, () => rng.int(256).toString(16).padStart(2, '0')).join('');
  const members: Candidate[] = Array.from({ length: cells }, () => ({ id: hex(8), weight: 1 }));
  const joined = [...members, { id: hex(8), weight: 1 }];
  const left = members.slice(1);
  const keys = Math.max(100, Math.floor(PLACEMENT_HASHES / (3 * cells)));
  let movedOnJoin = 0;
  let movedOnLeave = 0;
  for (let k = 0; k < keys; k++) {
    const key = hex(32);
    const base = replicaSet(key, members, replicas).join();
    if (replicaSet(key, joined, replicas).join() !== base) movedOnJoin++;
    if (replicaSet(key, left, replicas).join() !== base) movedOnLeave++;
  }
  return { keys, replicas, movedOnJoin, movedOnLeave };
}

const describeDeaths = (xs: (number | null)[], periodMs: number) => {
  const seen = xs.filter((x): x is number => x !== null);
  const missed = xs.length - seen.length;
  if (seen.length === 0) return xs.length === 0 ? 'not run (too few cells)' : `never (${xs.length} trials)`;
  const med = quantile(seen, 0.5);
  return `median ${ms(med)} (${(med / periodMs).toFixed(1)} periods), p99 ${ms(quantile(seen, 0.99))}, ${seen.length} trials${missed ? `, ${missed} not everywhere in ${ms(SPREAD_MS_MAX)}` : ''}`;
};

async function main(): Promise<void> {
  if (opts.help) {
    console.log(HELP);
    return;
  }
  const sizes = opts.cells ? [Number(opts.cells)] : [10, 100, 1_000, 10_000];
  const detectors = opts.detector ? [opts.detector as MembershipDetector] : [...DETECTORS];
  if (sizes.some((n) => !Number.isInteger(n) || n < 2)) throw new Error('--cells takes a whole number of at least 2');
  if (detectors.some((d) => !DETECTORS.includes(d))) throw new Error(`--detector takes ${DETECTORS.join(' or ')}`);
  const seed = Number(opts.seed);
  const hourCells = Number(opts['hour-cells']);
  const hourMs = Number(opts['hour-ms']);
  const { net, config } = new MembershipSim({ detector: 'mesh', cells: 0, seed, config: changeConfig });
  console.log(`bench:sim seed ${seed}; network delay ${net.delayMsMin}-${net.delayMsMax} ms per datagram; datagrams of at most ${config.wire.datagramBytesMax} bytes`);
  const figures = new Map<string, SizeFigures>();
  const falseDeaths = new Map<string, number>();
  for (const cells of sizes) {
    console.log(`\n== ${cells} cells ==`);
    for (const detector of detectors) {
      if (detector === 'mesh' && cells > MESH_CELLS_MAX) {
        console.log(
          `mesh: not run beyond ${MESH_CELLS_MAX} cells: every cell heartbeats every cell (${cells * (cells - 1)} datagrams per heartbeat interval, each listing up to 256 members), and a heartbeat lists at most 256 members`,
        );
        continue;
      }
      for (const lossRate of [0, 0.05]) {
        const f = await measureSwarm(detector, cells, lossRate, seed);
        figures.set(`${detector}|${cells}|${lossRate}`, f);
        console.log(
          `${detector} ${(lossRate * 100).toFixed(0)}% loss: ${num(f.datagramsPerCellPerS)} datagrams and ${num(f.bytesPerCellPerS / 1024)} KiB sent per cell per s; ` +
            `period ${f.periodMs} ms (${f.realS.toFixed(1)} s real for the whole swarm run)`,
        );
        console.log(`  silent death suspected everywhere: ${describeDeaths(f.silent.map((d) => d.detected), f.periodMs)}`);
        console.log(`  silent death dead everywhere: ${describeDeaths(f.silent.map((d) => d.dead), f.periodMs)}`);
        console.log(`  death with evidence dead everywhere: ${describeDeaths(f.evidence.map((d) => d.dead), f.periodMs)}`);
        console.log(`  join known everywhere: ${ms(f.join)}`);
      }
    }
    const p = placementMoves(cells, seed);
    console.log(
      `placement (R=${p.replicas}, ${p.keys} keys): one cell joins: ${num((100 * p.movedOnJoin) / p.keys)}% of keys move (${p.movedOnJoin}); ` +
        `one leaves: ${num((100 * p.movedOnLeave) / p.keys)}% (${p.movedOnLeave}); R/N = ${num((100 * p.replicas) / cells)}%`,
    );
  }

  if (hourMs > 0) console.log(`\n== false alarms at 5% loss: ${hourCells} cells, ${ms(hourMs)} simulated, per simulated hour ==`);
  for (const detector of hourMs > 0 ? detectors : []) {
    for (const withSlowCell of [false, true]) {
      const a = await measureFalseAlarms(detector, hourCells, hourMs, seed, withSlowCell);
      const slow = withSlowCell ? `; of the slow cell (up to ${SLOW_CELL_DELAY_MS_MAX} ms late): ${a.slowCell}` : '';
      console.log(`${detector}${withSlowCell ? ' + one slow cell' : ''}: of healthy cells: ${a.healthy}${slow}; ${a.realS.toFixed(1)} s real`);
      falseDeaths.set(`${detector}|${withSlowCell}`, a.falseDeaths);
    }
  }

  console.log('\n== targets ==');
  const f10 = figures.get('swim|10|0');
  const fBig = figures.get(`swim|${Math.max(...sizes)}|0`);
  if (f10 && fBig && Math.max(...sizes) > 10) {
    const ratio = fBig.datagramsPerCellPerS / f10.datagramsPerCellPerS;
    console.log(`datagrams/cell/s at ${Math.max(...sizes)} cells within 1.5x of 10 cells (swim, 0% loss): ${ratio.toFixed(2)}x ${ratio <= 1.5 ? 'MET' : 'MISSED'}`);
  }
  const f1000 = figures.get('swim|1000|0');
  if (f1000) {
    const periods = (xs: (number | null)[]) => {
      const seen = xs.filter((x): x is number => x !== null);
      return seen.length ? quantile(seen, 0.5) / f1000.periodMs : Infinity;
    };
    const evidence = periods(f1000.evidence.map((d) => d.dead));
    const silent = periods(f1000.silent.map((d) => d.detected));
    const met = evidence <= 3 && silent <= 3;
    console.log(
      `a death known everywhere in <= 3 periods at the median, 1,000 cells (swim, 0% loss): with evidence dead everywhere in ${evidence.toFixed(1)}, ` +
        `a silent one suspected everywhere in ${silent.toFixed(1)} (dead only after Lifeguard's suspicion timeout) ${met ? 'MET' : 'MISSED'}`,
    );
  }
  for (const [run, deaths] of falseDeaths) {
    const [detector, withSlowCell] = run.split('|');
    console.log(`no false death in ${ms(hourMs)} simulated at 5% loss, ${hourCells} cells (${detector}${withSlowCell === 'true' ? ' + one slow cell' : ''}): ${deaths} ${deaths === 0 ? 'MET' : 'MISSED'}`);
  }
}

await main();
