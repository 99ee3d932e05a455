import type { Command } from 'commander';
import { REPLICAS_MAX, pathInfo, setReplicas, type ChunkInfo, type DirInfo, type FileInfo } from '../../client/index.js';
import { isCellError } from '../../core/index.js';
import { formatBytes } from '../../dashboard/index.js';
import { usage } from '../errors.js';
import { readSwarm, swarmReplicas } from '../home.js';
import { homeOption, resolveHome } from '../options.js';
import { existsLocally, swarmTargetOf, type SwarmTarget } from '../swarm-path.js';
import { withClient } from './files.js';

/** Chunks printed per file without --json (the JSON lists them all). */
const CHUNKS_PRINTED_MAX = 32;

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description("each file's chunks with their copies (cell, state, when verified), its R and health; for a directory its R and totals")
    .argument('<path...>', 'paths under a mount of the swarm, paths in the swarm ("/photos"), or put ids')
    .addOption(homeOption())
    .option('--json', 'print one JSON object per line, one per path')
    .action(async (args: string[], opts: { home: string; json?: boolean }, cmd: Command) => {
      const targets = await Promise.all(args.map(swarmTargetOf));
      for (const [i, target] of targets.entries()) {
        const home = homeFor(target, opts, cmd);
        try {
          const info = await withClient(home, async (c) => ({ info: await pathInfo(c, 'put' in target ? target : { path: target.path }), nowMs: c.clock.wallNow() }));
          if (opts.json) console.log(JSON.stringify(info.info));
          else printInfo(args[i]!, info.info, info.nowMs);
        } catch (err) {
          await failed(args[i]!, target, err);
        }
      }
    });

  program
    .command('setr')
    .description(
      'set R, the copies kept of each chunk: on a directory, for it and everything under it, and what is made in it later; on a file (or a put id), for it. ' +
        "Existing copies are brought to R by the cells' heal (more made, or extra ones freed) at its next pass, not at once",
    )
    .argument('<n>', `copies to keep, 1..${REPLICAS_MAX}`)
    .argument('<path>', 'a path under a mount of the swarm, a path in the swarm ("/photos"), or a put id')
    .addOption(homeOption())
    .option('--json', 'print {"inodes","chunks","copies","unreadableMaps","unreachableCells"}')
    .action(async (n: string, arg: string, opts: { home: string; json?: boolean }, cmd: Command) => {
      const replicas = /^[0-9]+$/.test(n) ? Number(n) : NaN;
      if (!(replicas >= 1 && replicas <= REPLICAS_MAX)) usage(`R must be a whole number from 1 to ${REPLICAS_MAX}, then the path: e.g. "cellsync setr 2 /mnt/cells/photos" (got "${n}")`);
      const target = await swarmTargetOf(arg);
      const home = homeFor(target, opts, cmd);
      try {
        const recordReplicas = swarmReplicas(await readSwarm(home));
        const report = await withClient(home, (c) => setReplicas(c, 'put' in target ? target : { path: target.path }, replicas, recordReplicas));
        if (opts.json) console.log(JSON.stringify(report));
        else {
          const what = 'put' in target ? `put ${target.put}` : target.path;
          console.log(`R=${replicas} for ${what}: ${report.inodes} inodes changed, ${report.chunks} chunks (${report.copies} copies) now record it; heal makes or frees copies at its next pass (cellsync info shows them)`);
          if (report.unreadableMaps > 0) console.log(`${report.unreadableMaps} files could not be read: their chunks keep the R they had (setr again once fsck finds them)`);
        }
        if (report.unreachableCells.length > 0) {
          console.error(`cellsync: cells that did not answer keep the old R for their copies: ${report.unreachableCells.join(', ')} (setr again when they are back)`);
          process.exitCode = 1;
        }
      } catch (err) {
        await failed(arg, target, err);
      }
    });
}

/** The swarm of a path under a mount is the mount's, unless --home is given on the command line. */
function homeFor(target: SwarmTarget, opts: { home: string }, cmd: Command): string {
  if ('path' in target && target.mountHome && cmd.getOptionValueSource('home') !== 'cli') return target.mountHome;
  return resolveHome(opts);
}

/**
 * A path the swarm does not have: a path on this machine that is no
 * CellSync mount is wrong use (exit 2), anything else is missing (exit 1,
 * as ENOENT). Other failures go on to main().
 */
async function failed(arg: string, target: SwarmTarget, err: unknown): Promise<void> {
  if (!isCellError(err, 'NO_ENTRY')) throw err;
  if ('path' in target && !target.isMountPath && (await existsLocally(arg))) {
    usage(`${arg}: not in CellSync: it is not under a CellSync mount, and the swarm has no such path (give a path under a mount, a path in the swarm, or a put id)`);
  }
  console.error(`cellsync: ${arg}: no such file or directory${'path' in target && !target.isMountPath ? ' in the swarm' : ''} (ENOENT)`);
  process.exitCode = Math.max(1, typeof process.exitCode === 'number' ? process.exitCode : 0);
}

function printInfo(arg: string, info: FileInfo | DirInfo, nowMs: number): void {
  if (info.kind === 'dir') printDir(arg, info);
  else printFile(arg, info, nowMs);
  if (info.unreachableCells.length > 0) console.log(`  cells that did not answer (their copies not counted): ${info.unreachableCells.join(', ')}`);
}

function printDir(arg: string, d: DirInfo): void {
  const r = d.replicas === null ? 'R not set (what is made here gets the R of the mount that writes it)' : `R=${d.replicas} (given to what is made in it)`;
  console.log(`${arg}: directory ${d.path}, ${r}`);
  const extra = d.chunksOverReplicated > 0 ? `, ${d.chunksOverReplicated} with extra copies (heal frees them)` : '';
  console.log(`  ${d.files} files, ${d.dirs} directories, ${formatBytes(d.bytes)}; ${d.chunks} chunks, ${d.chunksAtRisk} at risk (${d.chunksLost} with no copy)${extra}`);
  console.log(`  ${d.summary}`);
}

function printFile(arg: string, f: FileInfo, nowMs: number): void {
  const name = f.put ? `put ${f.put}` : `file ${f.path}`;
  const r = f.inline ? (f.replicasFrom === 'file' ? `R=${f.replicas} (its own, for when it grows into chunks)` : 'no chunks') : `R=${f.replicas} (${f.replicasFrom === 'file' ? 'its own' : 'recorded with its chunks'})`;
  console.log(`${arg}: ${name}, ${formatBytes(f.size)}, ${r}`);
  console.log(`  ${f.summary}`);
  for (const c of f.chunks.slice(0, CHUNKS_PRINTED_MAX)) console.log(`  ${chunkLine(c, f.replicas, nowMs)}`);
  if (f.chunks.length > CHUNKS_PRINTED_MAX) console.log(`  ... and ${f.chunks.length - CHUNKS_PRINTED_MAX} more chunks (--json lists them all)`);
}

function chunkLine(c: ChunkInfo, replicas: number, nowMs: number): string {
  const name = c.index === null ? 'chunk map' : `chunk ${c.index}`;
  const copies = c.holders.map((h) => {
    const verified = h.verifiedAtMs === null ? 'not verified by this cell since it started' : `verified ${ageText(nowMs - h.verifiedAtMs)} ago`;
    const r = h.replicas === replicas ? '' : `, R ${h.replicas} recorded`;
    return `${h.cell.slice(0, 8)} (${h.addr}, ${h.role} ${h.state}, ${verified}${r})`;
  });
  return `${name.padEnd(10)} ${c.key.slice(0, 12)}  ${c.copies} of ${replicas}: ${copies.join('; ') || 'no copy on a live cell'}`;
}

function ageText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}
