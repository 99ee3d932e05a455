import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { INFECTION_CHUNKS, runChaos, type ChaosEnv, type ChaosSummary } from '../chaos/index.js';
import { fsck, type SwarmClient, type MemberView } from '../client/index.js';
import { connectSwarm } from '../connect/index.js';
import { seededRng, type SwarmEvent } from '../core/index.js';
import { Top, formatBytes, type SwarmCollector } from '../dashboard/index.js';
import { RehabWatch, type DemoCell, type QuarantineSeen } from './rehab-watch.js';

const CLI_MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const MiB = 1024 * 1024;

export interface DemoOptions {
  /** Use this home (kept afterwards); default: a fresh temp dir, removed afterwards. */
  home?: string;
  cells: number;
  durationS: number;
  json: boolean;
  seed: number;
  out: NodeJS.WriteStream;
  /** What the chaos monkey acts through (kill, restart, faults): the CLI provides it. */
  chaosEnv: (home: string, client: SwarmClient) => ChaosEnv;
  signal: AbortSignal;
}

export interface SurvivalReport {
  filesWritten: number;
  bytesWritten: number;
  filesVerified: number;
  filesLost: number;
  readsAttempted: number;
  readsFailed: number;
  /** Reads that returned bytes other than what was written: must be 0. */
  readsWrong: number;
  /** The first few read errors, for the record. */
  readErrors: string[];
  cellsKilled: number;
  corruptionsInjected: number;
  /** Injected corruptions found (by a guard, or by the cell reading its own disk)... */
  corruptionsCaught: number;
  /** ...and those another cell confirmed by looking for itself (a confirmer killed meanwhile, or the copy repaired first, leaves one unconfirmed). */
  corruptionsConfirmed: number;
  /** Corrupted copies gone from disk before any check reached them (healing drops a surplus copy without reading it). */
  corruptionsDroppedUnchecked: number;
  /** Corrupted copies still on disk, undetected, when the report was made: 0 unless healing timed out. */
  corruptionsUndetected: number;
  /** Cells whose disk chaos made keep corrupting chunks (an infection), so that the swarm quarantines them. */
  cellsInfected: number;
  /** Every cell quarantined: when (seconds since chaos began), and how long after its disk began failing (null if it was not infected). */
  quarantines: { cell: string; atS: number; sinceInfectionS: number | null }[];
  /** Every rehabilitation the demo ran (`cell rehab`): when the cell served again, when its background self-scrub finished (null if not seen), or why it failed. */
  rehabilitations: { cell: string; atS: number | null; storeScrubbedAtS: number | null; error: string | null }[];
  chunksReplicated: number;
  timeToFullHealthS: number | null;
  /** Why full health was not reached within the wait (null when it was). */
  notHealthyBecause: string | null;
  seed: number;
  ok: boolean;
}

/** Sizes from tiny to tens of MiB, so every path (inline, one chunk, many chunks) is exercised. */
const FILE_SIZES = [0, 100, 4_096, 60_000, 1 * MiB, 1 * MiB + 1, 3.5 * MiB, 9 * MiB, 24 * MiB];

/** Swarm settings for a short show: failures are noticed in seconds and guards scrub every few seconds. */
const CELL_SETTINGS = ['--heartbeat-ms', '1000', '--failure-timeout-ms', '3500', '--scrub-period-ms', '4000', '--scrub-rate', '96M', '--anti-entropy-ms', '3000'];
/** A quarantined cell stays so this long before the demo rehabilitates it, so that the dashboard shows it (ms). */
const REHAB_AFTER_MS = 3_000;
/** How often the demo looks for quarantined cells (ms). */
const REHAB_POLL_MS = 500;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function must(args: string[]): Promise<string> {
  const r = await cli(args);
  if (r.code !== 0) throw new Error(`cellsync ${args[0]} ${args[1] ?? ''} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The main job: a local swarm of daemons in a fresh home, mounted; files of
 * varied sizes copied in through the mount; chaos (kills, restarts,
 * corruption) while every file is read and checksummed through the mount
 * again and again; then healing to full health and a survival report.
 * Everything it started is stopped, even on Ctrl-C or error.
 */
export async function runDemo(o: DemoOptions): Promise<SurvivalReport> {
  const temp = o.home ? null : await mkdtemp(path.join(os.tmpdir(), 'cellsync-demo-'));
  const home = o.home ? path.resolve(o.home) : path.join(temp!, 'home');
  const mnt = path.join(temp ?? home, 'mnt');
  const say = (line: string) => {
    if (!o.json) o.out.write(`${new Date().toISOString().slice(11, 19)} demo: ${line}\n`);
  };
  let mounted = false;
  let mountPid = 0;
  let client: SwarmClient | null = null;
  let top: Top | null = null;
  let stopOperator: (() => Promise<void>) | null = null;
  try {
    say(`starting ${o.cells} cells in ${home}`);
    await must(['swarm', 'up', '--home', home, '--cells', String(o.cells), '--base-port', '0', ...CELL_SETTINGS]);
    const seeds = JSON.parse(await readFile(path.join(home, 'swarm.json'), 'utf8')).cells.map((c: { host: string; port: number }) => `${c.host}:${c.port}`) as string[];
    client = await connectSwarm({ swarmKey: await readFile(path.join(home, 'swarm.key')), seeds });
    say('waiting for stem cells to differentiate (storage, guard)');
    for (let i = 0; i < 60; i++) {
      const members = await client.members(true).catch(() => []);
      if (members.filter((m) => m.role === 'storage').length >= 3 && members.some((m) => m.role === 'guard')) break;
      await sleep(500);
    }
    await mkdir(mnt, { recursive: true });
    // A small chunk cache in the mount: reads during chaos really go to the cells.
    const mounting = await must(['mount', '--home', home, mnt, '--daemon', '--cache-size', '8M']);
    mountPid = Number(/pid (\d+)/.exec(mounting)?.[1]) || 0;
    mounted = true;

    const rng = seededRng(o.seed);
    const files: { name: string; sha: string; size: number }[] = [];
    for (const [i, size] of FILE_SIZES.entries()) {
      const data = Buffer.alloc(size);
      for (let j = 0; j < size; j += 4) data.writeUInt32LE((rng.next() * 2 ** 32) >>> 0, Math.min(j, Math.max(0, size - 4)));
      const name = `file-${i}-${size}.bin`;
      await writeFile(path.join(mnt, name), data);
      files.push({ name, sha: sha256(data), size });
    }
    const bytesWritten = files.reduce((s, f) => s + f.size, 0);
    say(`wrote ${files.length} files (${formatBytes(bytesWritten)}) through the mount`);

    const mode = o.json ? null : o.out.isTTY ? 'tty' : 'plain';
    const counts = { attempted: 0, failed: 0, wrong: 0 };
    const readErrors: string[] = [];
    let phase = 'chaos';
    if (mode) {
      top = new Top({
        client,
        seeds,
        mode,
        out: o.out,
        title: `demo (seed ${o.seed})`,
        status: () => `demo: ${phase}; reads ${counts.attempted}, failed ${counts.failed}, wrong ${counts.wrong}`,
      });
      top.start();
    }
    const collector: SwarmCollector | null = top?.collector ?? null;
    const quietCollector = collector ? null : new Top({ client, seeds, mode: 'json', out: devNull(), title: '' });
    quietCollector?.start();

    const readAll = async (stop: () => boolean) => {
      do {
        for (const f of files) {
          if (stop()) return;
          counts.attempted++;
          try {
            const got = await readFile(path.join(mnt, f.name));
            if (sha256(got) !== f.sha) counts.wrong++;
          } catch (err) {
            counts.failed++;
            if (readErrors.length < 5) readErrors.push(`${f.name}: ${(err as Error).message}`);
          }
        }
      } while (!stop());
    };
    const demoCells: DemoCell[] = (JSON.parse(await readFile(path.join(home, 'swarm.json'), 'utf8')).cells as { name: string; data: string; host: string; port: number }[]).map((c) => ({
      name: c.name,
      data: c.data,
      addr: `${c.host}:${c.port}`,
    }));
    const swarmClient = client;
    // The operator's part: every cell the swarm quarantines is rehabilitated, as a user would.
    const operator = new RehabWatch({
      cells: demoCells,
      members: () => swarmClient.members(true),
      rehab: async (cell) => {
        const r = await cli(['cell', 'rehab', '--home', home, '--data', cell.data]);
        return r.code === 0 ? null : r.stderr.trim().split('\n').pop() || `exit ${r.code}`;
      },
      say,
      rehabAfterMs: REHAB_AFTER_MS,
      pollMs: REHAB_POLL_MS,
    });
    operator.start();
    stopOperator = () => operator.stop();
    let chaosDone = false;
    const reader = readAll(() => chaosDone || o.signal.aborted);
    let summary: ChaosSummary;
    const chaosStartMs = Date.now();
    try {
      summary = await runChaos(
        o.chaosEnv(home, client),
        {
          durationMs: o.durationS * 1000,
          seed: o.seed,
          killEveryMs: Math.max(4_000, (o.durationS * 1000) / 4),
          restartAfterMs: 6_000,
          corruptEveryMs: Math.max(3_000, (o.durationS * 1000) / 5),
          // One infection, early enough in the run for the guards to find it and the swarm to quarantine it.
          infectEveryMs: Math.max(3_000, (o.durationS * 1000) / 4),
          infectChunks: INFECTION_CHUNKS,
          maxInfected: 1,
          maxDead: 1,
          packets: { lossRate: 0, dupRate: 0, reorderRate: 0 },
        },
        (a) => {
          if (mode === 'plain' || (!mode && !o.json)) say(`chaos +${(a.atMs / 1000).toFixed(1)}s ${a.kind} ${a.cell}: ${a.detail}`);
        },
        o.signal,
      );
    } finally {
      chaosDone = true;
      await reader;
    }
    if (o.signal.aborted) throw new Error('interrupted');

    phase = 'healing';
    say('chaos over; waiting for full health');
    const healStart = performance.now();
    let timeToFullHealthS: number | null = null;
    let missing = 'no answer from the swarm';
    for (let i = 0; i < 240 && !o.signal.aborted; i++) {
      const members = await client.members(true).catch(() => []);
      // A quarantined cell stays cut off until it is rehabilitated: health is every other cell alive and every chunk at R.
      const allUp = members.length >= o.cells && members.every((m) => m.state === 'alive' || m.state === 'quarantined') && operator.pending === 0;
      const h = await fsck(client).catch(() => null);
      // Health includes no corrupted copy left unnoticed on disk: guards' scrubs find the ones no read reached.
      const latent = await undetected(summary.corrupted, members);
      // A rehabilitated cell is whole again once its background self-scrub has read its whole store.
      const seenNow = (collector ?? quietCollector!.collector).seenEvents;
      const scrubbing = operator.seen.filter((q) => q.rehabilitatedAtMs !== null && !seenNow.some((e) => e.type === 'self-scrub-finished' && e.cellId === q.id && e.atMs >= q.seenAtMs));
      if (allUp && scrubbing.length === 0 && h && h.underReplicated === 0 && h.missing === 0 && h.unreachableCells.length === 0 && latent.length === 0) {
        timeToFullHealthS = (performance.now() - healStart) / 1000;
        break;
      }
      const quarantined = members.filter((m) => m.state === 'quarantined').length;
      const storage = members.filter((m) => m.role === 'storage' && m.state === 'alive').length;
      missing = [
        !allUp ? `${o.cells - members.filter((m) => m.state === 'alive' || m.state === 'quarantined').length} cell(s) not back${operator.pending ? `, ${operator.pending} being rehabilitated` : ''}` : '',
        h?.underReplicated ? `${h.underReplicated} chunks under-replicated (${storage} storage cells alive${quarantined ? `, ${quarantined} quarantined: cellsync cell rehab brings a cell back` : ''})` : '',
        h?.missing ? `${h.missing} chunks missing` : '',
        latent.length ? `${latent.length} corrupted copies not yet found` : '',
        scrubbing.length ? `${scrubbing.map((q) => q.cell).join(', ')} still scrubbing its store after rehabilitation` : '',
      ]
        .filter(Boolean)
        .join('; ');
      await sleep(500);
    }
    await operator.stop();
    phase = 'verifying';
    let verified = 0;
    for (const f of files) {
      try {
        if (sha256(await readFile(path.join(mnt, f.name))) === f.sha) verified++;
      } catch {
        // counted as lost below
      }
    }
    await sleep(1_200); // one more poll, so the last events are counted
    const events = (collector ?? quietCollector!.collector).seenEvents;
    const injected = summary.actions.filter((a) => a.kind === 'corrupt').map((a) => ({ chunk: /chunk [0-9a-f]{12}/.exec(a.detail)?.[0] ?? a.detail, atMs: chaosStartMs + a.atMs }));
    // A cell killed right after finding one may take its own event with it: an alert or a confirmation shows it was caught too.
    const corruptionsCaught = followedBy(injected, events, ['corruption-detected', 'alert-raised', 'alert-confirmed']);
    const corruptionsConfirmed = followedBy(injected, events, ['alert-confirmed']);
    const corruptionsUndetected = (await undetected(summary.corrupted, await client.members(true).catch(() => []))).length;
    const report: SurvivalReport = {
      filesWritten: files.length,
      bytesWritten,
      filesVerified: verified,
      filesLost: files.length - verified,
      readsAttempted: counts.attempted,
      readsFailed: counts.failed,
      readsWrong: counts.wrong,
      readErrors,
      cellsKilled: summary.kills,
      cellsInfected: summary.infected.length,
      ...immuneRecord(operator.seen, summary, events, chaosStartMs),
      corruptionsInjected: summary.corruptions,
      corruptionsCaught,
      corruptionsConfirmed,
      corruptionsDroppedUnchecked: summary.corruptions - corruptionsCaught - corruptionsUndetected,
      corruptionsUndetected,
      chunksReplicated: (collector ?? quietCollector!.collector).chunksRepaired,
      timeToFullHealthS: timeToFullHealthS === null ? null : Math.round(timeToFullHealthS * 10) / 10,
      notHealthyBecause: timeToFullHealthS === null ? missing : null,
      seed: o.seed,
      ok: verified === files.length && counts.wrong === 0,
    };
    top?.stop();
    top = null;
    quietCollector?.stop();
    return report;
  } finally {
    top?.stop();
    await stopOperator?.();
    if (mounted) {
      const r = await cli(['umount', mnt]);
      if (r.code !== 0) await cli(['umount', '--lazy', mnt]);
      await untilGone(mountPid);
    }
    await client?.close().catch(() => undefined);
    await cli(['swarm', 'down', '--home', home]);
    if (temp) await rm(temp, { recursive: true, force: true });
  }
}

/** Waits for a process to exit (the mount notices its unmount within a second), then makes sure. */
async function untilGone(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; pid > 0 && i < 50 && alive(); i++) await sleep(100);
  if (pid > 0 && alive()) process.kill(pid, 'SIGKILL');
}

function devNull(): NodeJS.WriteStream {
  return { write: () => true, isTTY: false, columns: 80, rows: 24, on: () => undefined, off: () => undefined } as unknown as NodeJS.WriteStream;
}

export function formatReport(r: SurvivalReport): string {
  const lines = [
    'CellSync survival report',
    `  files written        ${r.filesWritten} (${formatBytes(r.bytesWritten)})`,
    `  files verified       ${r.filesVerified} of ${r.filesWritten}${r.filesLost ? `  (${r.filesLost} LOST)` : ''}`,
    `  reads                ${r.readsAttempted} attempted, ${r.readsFailed} failed, ${r.readsWrong} wrong`,
    ...r.readErrors.map((e) => `                       ${e}`),
    `  cells killed         ${r.cellsKilled}`,
    `  cells infected       ${r.cellsInfected}${r.cellsInfected > 0 ? ' (a disk that keeps corrupting chunks)' : ''}`,
    ...(r.quarantines.length === 0
      ? ['  quarantined          none']
      : r.quarantines.map((q, i) => `  ${i === 0 ? 'quarantined ' : '            '}         ${q.cell} at +${q.atS} s${q.sinceInfectionS !== null ? ` (${q.sinceInfectionS} s after its disk began failing)` : ''}`)),
    ...r.rehabilitations.map(
      (h, i) =>
        `  ${i === 0 ? 'rehabilitated' : '             '}        ${h.cell} ` +
        (h.error !== null ? `FAILED: ${h.error}` : `at +${h.atS} s (serving again)${h.storeScrubbedAtS !== null ? `, store scrubbed by +${h.storeScrubbedAtS} s` : ''}`),
    ),
    `  corruptions          ${r.corruptionsInjected} injected, ${r.corruptionsCaught} caught, ${r.corruptionsConfirmed} confirmed by another cell` +
      (r.corruptionsDroppedUnchecked > 0 ? `, ${r.corruptionsDroppedUnchecked} removed before any check reached it` : '') +
      (r.corruptionsUndetected > 0 ? `, ${r.corruptionsUndetected} STILL UNDETECTED on disk` : ''),
    `  chunks re-replicated ${r.chunksReplicated}`,
    `  time to full health  ${r.timeToFullHealthS === null ? `not reached in 2 min: ${r.notHealthyBecause}` : `${r.timeToFullHealthS} s`}`,
    `  verdict              ${r.ok ? 'no byte lost' : 'DATA LOST'} (seed ${r.seed})`,
  ];
  return lines.join('\n');
}

/** Quarantines and rehabilitations for the report: times in seconds since chaos began, from what the demo saw and the cells' events. */
function immuneRecord(seen: QuarantineSeen[], summary: ChaosSummary, events: SwarmEvent[], chaosStartMs: number): Pick<SurvivalReport, 'quarantines' | 'rehabilitations'> {
  const since = (ms: number) => Math.round((ms - chaosStartMs) / 100) / 10;
  const quarantines = seen.map((q) => {
    // The swarm's own time of it, if an event says: the first member to mark it (the demo polls twice a second).
    const marked = events.filter((e) => e.type === 'member-quarantined' && e.cellId === q.id && e.atMs <= q.seenAtMs).map((e) => e.atMs);
    const atMs = marked.length > 0 ? Math.max(chaosStartMs, Math.min(...marked)) : q.seenAtMs;
    const infection = summary.infected.find((i) => i.addr === q.addr && chaosStartMs + i.atMs <= atMs);
    return { cell: q.cell, atS: since(atMs), sinceInfectionS: infection ? Math.round((atMs - chaosStartMs - infection.atMs) / 100) / 10 : null };
  });
  const rehabilitations = seen
    .filter((q) => q.rehabilitatedAtMs !== null || q.rehabError !== null)
    .map((q) => {
      const scrubbed = events.find((e) => e.type === 'self-scrub-finished' && e.cellId === q.id && q.rehabilitatedAtMs !== null && e.atMs >= q.seenAtMs);
      return {
        cell: q.cell,
        atS: q.rehabilitatedAtMs === null ? null : since(q.rehabilitatedAtMs),
        storeScrubbedAtS: scrubbed ? since(Math.max(scrubbed.atMs, q.rehabilitatedAtMs!)) : null,
        error: q.rehabError,
      };
    });
  return { quarantines, rehabilitations };
}

/**
 * The corrupted copies still on disk as they were left: not moved aside, not
 * replaced by a good copy. A quarantined cell's do not count: it serves
 * nothing, its chunks are copied elsewhere, and its store is scrubbed at rehab.
 */
async function undetected(corrupted: ChaosSummary['corrupted'], members: MemberView[]): Promise<ChaosSummary['corrupted']> {
  const quarantined = new Set(members.filter((m) => m.state === 'quarantined').map((m) => m.addr));
  const still = await Promise.all(corrupted.map(async (c) => !quarantined.has(c.addr) && (await readFile(c.file).then(sha256, () => c.key)) !== c.key));
  return corrupted.filter((_, i) => still[i]);
}

/**
 * How many injected corruptions (`chunk <12 hex>` at a wall-clock time) an
 * event of one of `types` about the same chunk followed before that chunk was
 * corrupted again (chaos may corrupt the same chunk twice).
 */
function followedBy(injected: { chunk: string; atMs: number }[], events: SwarmEvent[], types: string[]): number {
  const slackMs = 1_000; // cells' and the demo's clocks are the same machine's, read at different moments
  return injected.filter((c, i) => {
    const again = injected.slice(i + 1).find((d) => d.chunk === c.chunk)?.atMs ?? Infinity;
    return events.some((e) => types.includes(e.type) && e.detail?.startsWith(c.chunk) && e.atMs >= c.atMs - slackMs && e.atMs < again - slackMs);
  }).length;
}
