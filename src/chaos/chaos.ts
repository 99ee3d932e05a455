import { open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { isChunkKey, seededRng, type Rng } from '../core/index.js';

/** A cell as chaos knows it (swarm.json). */
export interface ChaosCell {
  name: string;
  data: string;
  /** Where it listens (host:port), as members name it. */
  addr: string;
}

export interface ChaosOptions {
  durationMs: number;
  seed: number;
  /** Mean time between kills (ms); 0 = none. */
  killEveryMs: number;
  /** A killed cell is restarted after this long (ms). */
  restartAfterMs: number;
  /** Mean time between chunk corruptions (ms); 0 = none. */
  corruptEveryMs: number;
  /** Cells dead at once, at most (so that no chunk can lose every copy). */
  maxDead: number;
  /**
   * Mean time between infections (ms); 0 = none. An infected cell's disk
   * keeps failing: `infectChunks` of its chunks are corrupted, one every
   * INFECTION_STEP_MS, so that the guards find several and the swarm
   * quarantines it (a single flip is only repaired: --quarantine-after).
   */
  infectEveryMs?: number;
  /** Chunks an infected cell's disk corrupts. */
  infectChunks?: number;
  /** Cells infected in a run, at most. */
  maxInfected?: number;
  /** Wire fault injection inside every cell during the run. */
  packets: { lossRate: number; dupRate: number; reorderRate: number };
}

/** What chaos does to the world; the CLI and the demo provide it. */
export interface ChaosEnv {
  cells(): Promise<ChaosCell[]>;
  kill(cell: ChaosCell): Promise<number | null>;
  restart(cell: ChaosCell): Promise<void>;
  setFaults(faults: ChaosOptions['packets']): Promise<void>;
  now(): number;
  /** Resolves after ms, or at once when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface ChaosAction {
  /** Since the start (ms). */
  atMs: number;
  kind: 'kill' | 'restart' | 'corrupt' | 'infect' | 'faults' | 'skip';
  cell: string;
  detail: string;
}

export interface ChaosSummary {
  kills: number;
  restarts: number;
  corruptions: number;
  /** Every corrupted copy (single flips and infections): the chunk, the file flipped on disk, when (ms since the start). */
  corrupted: { key: string; file: string; addr: string; atMs: number }[];
  /** Every infected cell: when its disk began failing (ms since the start) and the chunks it corrupted. */
  infected: { cell: string; addr: string; data: string; atMs: number; keys: string[] }[];
  actions: ChaosAction[];
}

interface Planned {
  atMs: number;
  kind: 'kill' | 'corrupt' | 'restart' | 'infect' | 'infect-chunk';
  cell?: ChaosCell;
}

/** Time between two chunks an infected disk corrupts (ms): several within one scrub pass of the guards. */
export const INFECTION_STEP_MS = 500;
/** Chunks an infected disk corrupts by default: more than the default quarantine threshold (3), so a copy dropped unread by healing still leaves enough. */
export const INFECTION_CHUNKS = 5;

/** Exponential-ish gaps around a mean, from the seeded generator. */
function gap(rng: Rng, meanMs: number): number {
  return meanMs * (0.5 + rng.next());
}

/**
 * Chaos monkey: SIGKILLs random cells and restarts them after a delay,
 * corrupts random chunk files on disk, and injects packet faults, for a
 * bounded time. Every choice comes from one seeded generator over the cells
 * sorted by name, so a seed replays the same actions. Never more than
 * maxDead cells are down at once.
 */
export async function runChaos(env: ChaosEnv, opts: ChaosOptions, onAction: (a: ChaosAction) => void, signal?: AbortSignal): Promise<ChaosSummary> {
  const rng = seededRng(opts.seed);
  const summary: ChaosSummary = { kills: 0, restarts: 0, corruptions: 0, corrupted: [], infected: [], actions: [] };
  const start = env.now();
  const act = (a: Omit<ChaosAction, 'atMs'>) => {
    const action = { ...a, atMs: Math.round(env.now() - start) };
    summary.actions.push(action);
    onAction(action);
  };
  const cells = (await env.cells()).sort((a, b) => a.name.localeCompare(b.name));
  const dead = new Set<string>();
  /** Infected cells, by name: the chunks their disk corrupted so far. They are never killed: a copy they hold, dropped as surplus after a restart, would hide the infection. */
  const infected = new Map<string, ChaosSummary['infected'][number]>();
  const infectEveryMs = opts.infectEveryMs ?? 0;
  const infectChunks = opts.infectChunks ?? INFECTION_CHUNKS;
  const queue: Planned[] = [];
  if (opts.killEveryMs > 0) queue.push({ atMs: gap(rng, opts.killEveryMs), kind: 'kill' });
  if (opts.corruptEveryMs > 0) queue.push({ atMs: gap(rng, opts.corruptEveryMs), kind: 'corrupt' });
  if (infectEveryMs > 0) queue.push({ atMs: gap(rng, infectEveryMs), kind: 'infect' });
  const flipped = (done: { cell: string; key: string; file: string; addr: string }) => {
    summary.corruptions++;
    summary.corrupted.push({ key: done.key, file: done.file, addr: done.addr, atMs: Math.round(env.now() - start) });
  };
  const faulty = opts.packets.lossRate > 0 || opts.packets.dupRate > 0 || opts.packets.reorderRate > 0;
  if (faulty) {
    await env.setFaults(opts.packets);
    act({ kind: 'faults', cell: '*', detail: `loss ${opts.packets.lossRate}, dup ${opts.packets.dupRate}, reorder ${opts.packets.reorderRate}` });
  }
  const restart = async (cell: ChaosCell) => {
    await env.restart(cell);
    dead.delete(cell.name);
    summary.restarts++;
    act({ kind: 'restart', cell: cell.name, detail: `started again at ${cell.addr}` });
    if (faulty) await env.setFaults(opts.packets);
  };
  try {
    for (;;) {
      queue.sort((a, b) => a.atMs - b.atMs);
      if (signal?.aborted) {
        // Stopped early: the cells it killed start again now. Chaos leaves every cell running.
        for (const p of queue) if (p.kind === 'restart') await restart(p.cell!);
        break;
      }
      const next = queue.shift();
      if (!next) {
        // Nothing more to do: the run still lasts its duration (faults on the wire stay for all of it).
        const left = opts.durationMs - (env.now() - start);
        if (left > 0) await env.sleep(left, signal);
        break;
      }
      const inRun = next.atMs <= opts.durationMs;
      // Restarts still happen after the run ends: chaos leaves every cell running. An infection runs its course.
      if (!inRun && next.kind !== 'restart' && next.kind !== 'infect-chunk') continue;
      const wait = next.atMs - (env.now() - start);
      if (wait > 0) await env.sleep(wait, signal);
      if (signal?.aborted && next.kind !== 'restart') continue;
      if (next.kind === 'kill') {
        queue.push({ atMs: next.atMs + gap(rng, opts.killEveryMs), kind: 'kill' });
        const alive = cells.filter((c) => !dead.has(c.name) && !infected.has(c.name));
        const victim = alive[rng.int(alive.length)];
        if (!victim || dead.size >= opts.maxDead) {
          act({ kind: 'skip', cell: victim?.name ?? '-', detail: `kill skipped: ${dead.size} cell(s) already down (max ${opts.maxDead})` });
          continue;
        }
        const pid = await env.kill(victim);
        if (pid === null) {
          act({ kind: 'skip', cell: victim.name, detail: 'kill skipped: not running' });
          continue;
        }
        dead.add(victim.name);
        summary.kills++;
        act({ kind: 'kill', cell: victim.name, detail: `SIGKILL pid ${pid} at ${victim.addr}` });
        queue.push({ atMs: next.atMs + opts.restartAfterMs, kind: 'restart', cell: victim });
      } else if (next.kind === 'restart') {
        await restart(next.cell!);
      } else if (next.kind === 'infect') {
        queue.push({ atMs: next.atMs + gap(rng, infectEveryMs), kind: 'infect' });
        const pick = rng.next();
        if (infected.size >= (opts.maxInfected ?? 1)) {
          act({ kind: 'skip', cell: '-', detail: `infection skipped: ${infected.size} cell(s) infected already (max ${opts.maxInfected ?? 1})` });
          continue;
        }
        const candidates: ChaosCell[] = [];
        for (const c of cells) if (!dead.has(c.name) && !infected.has(c.name) && (await chunkFiles(c)).length >= infectChunks) candidates.push(c);
        const cell = candidates[Math.floor(pick * candidates.length)];
        if (!cell) {
          act({ kind: 'skip', cell: '-', detail: `infection skipped: no running cell holds ${infectChunks} chunks` });
          continue;
        }
        const record = { cell: cell.name, addr: cell.addr, data: cell.data, atMs: Math.round(env.now() - start), keys: [] as string[] };
        infected.set(cell.name, record);
        summary.infected.push(record);
        act({ kind: 'infect', cell: cell.name, detail: `its disk begins failing: ${infectChunks} chunks over ${((infectChunks - 1) * INFECTION_STEP_MS) / 1000} s` });
        for (let i = 0; i < infectChunks; i++) queue.push({ atMs: next.atMs + i * INFECTION_STEP_MS, kind: 'infect-chunk', cell });
      } else if (next.kind === 'infect-chunk') {
        const record = infected.get(next.cell!.name)!;
        const fileIndex = rng.next();
        const done = await corruptOne([next.cell!], 0, fileIndex, new Set(record.keys));
        if (done) {
          record.keys.push(done.key);
          flipped(done);
          act({ kind: 'corrupt', cell: done.cell, detail: `chunk ${done.key.slice(0, 12)} (infected disk, ${record.keys.length} of ${infectChunks})` });
        } else {
          act({ kind: 'skip', cell: next.cell!.name, detail: 'infected chunk skipped: no chunk left to corrupt' });
        }
      } else {
        queue.push({ atMs: next.atMs + gap(rng, opts.corruptEveryMs), kind: 'corrupt' });
        const alive = cells.filter((c) => !dead.has(c.name));
        const pick = rng.next();
        const fileIndex = rng.next();
        const done = await corruptOne(alive, pick, fileIndex);
        if (done) {
          flipped(done);
          act({ kind: 'corrupt', cell: done.cell, detail: `chunk ${done.key.slice(0, 12)}` });
        } else {
          act({ kind: 'skip', cell: '-', detail: 'corrupt skipped: no chunk on a running cell' });
        }
      }
    }
  } finally {
    if (faulty) await env.setFaults({ lossRate: 0, dupRate: 0, reorderRate: 0 }).catch(() => undefined);
  }
  return summary;
}

async function chunkFiles(cell: ChaosCell): Promise<string[]> {
  const root = path.join(cell.data, 'chunks');
  const out: string[] = [];
  for (const sub of (await readdir(root).catch(() => [] as string[])).sort()) {
    for (const f of (await readdir(path.join(root, sub)).catch(() => [] as string[])).sort()) if (isChunkKey(f)) out.push(path.join(root, sub, f));
  }
  return out;
}

/** Flips bytes in the middle of one chunk file (not one of `spare`), in place (as a failing disk would). */
async function corruptOne(cells: ChaosCell[], pick: number, fileIndex: number, spare = new Set<string>()): Promise<{ cell: string; key: string; file: string; addr: string } | null> {
  const holders: { cell: ChaosCell; files: string[] }[] = [];
  for (const c of cells) {
    const files = (await chunkFiles(c)).filter((f) => !spare.has(path.basename(f)));
    if (files.length > 0) holders.push({ cell: c, files });
  }
  if (holders.length === 0) return null;
  const h = holders[Math.floor(pick * holders.length)]!;
  const file = h.files[Math.floor(fileIndex * h.files.length)]!;
  const fh = await open(file, 'r+');
  try {
    const { size } = await fh.stat();
    const at = Math.floor(size / 2);
    const buf = Buffer.alloc(Math.min(16, Math.max(1, size - at)));
    await fh.read(buf, 0, buf.length, at);
    for (let i = 0; i < buf.length; i++) buf[i] = buf[i]! ^ 0x5a;
    await fh.write(buf, 0, buf.length, at);
  } finally {
    await fh.close();
  }
  return { cell: h.cell.name, key: path.basename(file), file, addr: h.cell.addr };
}
