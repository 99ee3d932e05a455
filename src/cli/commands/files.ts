import { Option, type Command } from 'commander';
import { access, constants, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { AT_RISK_LISTED_MAX, GC_GRACE_DEFAULT_MS, GC_GRACE_MIN_MS, collectGarbage, fsck, getFile, isLiveStorage, putFile, SwarmClient, type FsckReport } from '../../client/index.js';
import { CellError, defaultConfig, isChunkKey } from '../../core/index.js';
import { usage } from '../errors.js';
import { openSwarmClient } from '../home.js';
import { swarmPathOf } from '../swarm-path.js';
import { chunkSizeOption, homeOption, parseDuration, parseIntArg, resolveHome } from '../options.js';

export async function withClient<T>(home: string, fn: (c: SwarmClient) => Promise<T>): Promise<T> {
  const { client } = await openSwarmClient(home);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

const GRACE_MIN = `${GC_GRACE_MIN_MS / 60_000}m`;

export function registerFiles(program: Command): void {
  const d = defaultConfig().placement;

  program
    .command('put')
    .description("store a file in the swarm; prints the file's id (the hash of its manifest)")
    .argument('<file>', 'the file to store')
    .addOption(homeOption())
    .addOption(new Option('--replicas <n>', 'copies of each chunk (R)').argParser(parseIntArg(1, 16)).default(d.replicas))
    .addOption(new Option('--write-quorum <n>', 'copies acknowledged before put returns (W)').argParser(parseIntArg(1, 16)).default(d.writeQuorum))
    .addOption(chunkSizeOption('chunk size, 4K..4M'))
    .action(async (file: string, opts: { home: string; replicas: number; writeQuorum: number; chunkSize: number }) => {
      if (opts.writeQuorum > opts.replicas) usage('--write-quorum cannot exceed --replicas');
      const st = await stat(file).catch(() => null);
      if (!st?.isFile()) throw new CellError('BAD_REQUEST', `${file}: ${st ? 'not a regular file' : 'no such file'}`);
      const { result, storage } = await withClient(resolveHome(opts), async (c) => ({
        result: await putFile(c, path.resolve(file), { replicas: opts.replicas, writeQuorum: opts.writeQuorum, chunkBytes: opts.chunkSize }),
        storage: (await c.members()).filter(isLiveStorage).length,
      }));
      console.log(result.id);
      if (storage < opts.replicas) {
        console.error(`cellsync: warning: only ${storage} storage cells: each chunk has ${storage} copies, not ${opts.replicas}, until more join (fsck reports it under-replicated)`);
      }
    });

  program
    .command('get')
    .description('write a stored file to stdout or OUT, verified chunk by chunk')
    .argument('<id>', 'the id put printed')
    .addOption(homeOption())
    .option('-o, --output <file>', 'write here instead of stdout (atomically: no partial file on failure)')
    .action(async (id: string, opts: { home: string; output?: string }) => {
      if (!isChunkKey(id)) usage(`"${id}" is not a file id (64 hex digits, as printed by put)`);
      const final = opts.output === undefined ? null : path.resolve(opts.output);
      // Where the file goes is checked before the swarm is asked: a wrong -o is wrong use, said in one line.
      if (final) await checkOutputDir(path.dirname(final));
      await withClient(resolveHome(opts), async (c) => {
        if (!final) {
          await getFile(c, id, process.stdout);
          return;
        }
        const tmp = path.join(path.dirname(final), `.${path.basename(final)}.cellsync-${process.pid}.tmp`);
        const fh = await open(tmp, 'w').catch((err: NodeJS.ErrnoException) => {
          throw new CellError('BAD_CONFIG', `cannot write ${final}: ${err.code ?? err.message}`);
        });
        const out = fh.createWriteStream();
        try {
          await getFile(c, id, out);
          out.end();
          await finished(out);
          await rename(tmp, final);
        } catch (err) {
          out.destroy();
          await rm(tmp, { force: true });
          throw err;
        }
      });
    });

  program
    .command('fsck')
    .description("check that every current file's chunks have their copies; names each file at risk; exits 1 while a chunk in use is under-replicated or missing")
    .argument('[path]', 'check only this tree: a path in the swarm ("/photos"), or one under a mount of it')
    .addOption(homeOption())
    .option('--json', 'print the report as JSON: the counts, "unused" (old versions gc frees), and "atRisk": each file at risk (path or put id) with its chunks short of copies')
    .action(async (target: string | undefined, opts: { home: string; json?: boolean }) => {
      const swarmPath = target === undefined ? undefined : await swarmPathOf(target);
      const report = await withClient(resolveHome(opts), (c) => fsck(c, { path: swarmPath }));
      if (opts.json) console.log(JSON.stringify(report));
      else printFsck(report);
      if (report.underReplicated > 0 || report.missing > 0) process.exitCode = 1;
    });

  program
    .command('gc')
    .description(
      'free the space of chunks no file uses any more (deleted or overwritten files); files stored with put are kept. ' +
        'Every cell must be alive; chunks stored within the grace period are kept, as a writer may be about to use them ' +
        `(the old chunks of a file rewritten since: within ${GRACE_MIN})`,
    )
    .addOption(homeOption())
    .addOption(new Option('--grace <duration>', `keep chunks stored or reused within this long, e.g. 30m, 1h, 2d (at least ${GRACE_MIN})`).argParser(parseDuration).default(GC_GRACE_DEFAULT_MS, '1h'))
    .option('--dry-run', 'count the garbage, remove nothing')
    .option('--allow-dead', 'go on although some cells are dead (only for cells gone for good: records only they hold are not read)')
    .option('--json', 'print {"cells","chunks","garbage","copiesRemoved","bytesFreed","copiesKept","superseded"}')
    .action(async (opts: { home: string; grace: number; dryRun?: boolean; allowDead?: boolean; json?: boolean }) => {
      if (opts.grace < GC_GRACE_MIN_MS) {
        usage(`--grace must be at least ${GRACE_MIN}: a mount names the chunks it stores within about 30 s, a big put or a slow swarm takes longer`);
      }
      const report = await withClient(resolveHome(opts), (c) => collectGarbage(c, { graceMs: opts.grace, dryRun: opts.dryRun, allowDead: opts.allowDead }));
      if (opts.json) console.log(JSON.stringify(report));
      else {
        const mib = (report.bytesFreed / 2 ** 20).toFixed(1);
        const removed = opts.dryRun ? `would remove ${report.copiesRemoved} copies, freeing ${mib} MiB (dry run: nothing removed)` : `removed ${report.copiesRemoved} copies, freeing ${mib} MiB`;
        console.log(`${report.chunks} chunks on ${report.cells} cells: ${report.garbage} unused (${report.superseded} of rewritten files); ${removed}`);
        if (report.copiesKept > 0) console.log(`${report.copiesKept} copies kept: stored or reused within the grace period (or their cell did not answer)`);
      }
    });
}

/** Files at risk printed by fsck without --json (the JSON lists up to AT_RISK_LISTED_MAX). */
const AT_RISK_PRINTED_MAX = 20;

function printFsck(report: FsckReport): void {
  const where = report.path === undefined ? '' : ` under ${report.path}`;
  console.log(
    `${report.files} files${where}, ${report.chunks} chunks in use: ${report.healthy} healthy, ${report.underReplicated} under-replicated, ${report.missing} missing, ${report.overReplicated} over-replicated`,
  );
  if (report.unused > 0) console.log(`${report.unused} chunks held that no current file uses (old versions, removed files): gc frees them`);
  if (report.unreachableCells.length) console.log(`unreachable cells (not counted): ${report.unreachableCells.join(', ')}`);
  if (report.awayCells.length) {
    console.log(`stopped on purpose, expected back (not counted): ${report.awayCells.join(', ')}: chunks short of copies are at R-1 because these cells are away, not lost`);
  }
  if (report.atRiskFiles === 0) return;
  console.log(`${report.atRiskFiles} files at risk:`);
  for (const f of report.atRisk.slice(0, AT_RISK_PRINTED_MAX)) {
    const name = f.put ? `put ${f.put}` : (f.path ?? `inode ${f.ino} (no path leads to it)`);
    const lost = f.chunks.filter((c) => c.copies === 0).length;
    const short = f.chunks.filter((c) => c.copies > 0).map((c) => `${c.copies}/${c.target}`);
    const parts = [lost > 0 ? `${lost} chunks with no copy left` : '', short.length > 0 ? `${short.length} chunks short of copies (${short.slice(0, 4).join(', ')}${short.length > 4 ? ', ...' : ''})` : ''];
    console.log(`  ${name}: ${parts.filter(Boolean).join('; ')}`);
  }
  const more = report.atRiskFiles - Math.min(report.atRisk.length, AT_RISK_PRINTED_MAX);
  if (more > 0) console.log(`  ... and ${more} more (fsck --json lists up to ${AT_RISK_LISTED_MAX})`);
}

/** -o's directory must exist and be writable: said as wrong use (exit 2), before anything is fetched. */
async function checkOutputDir(dir: string): Promise<void> {
  const st = await stat(dir).catch(() => null);
  if (!st) usage(`cannot write there: ${dir} does not exist (create it first, or give -o a path in an existing directory)`);
  if (!st.isDirectory()) usage(`cannot write there: ${dir} is not a directory`);
  if (!(await access(dir, constants.W_OK).then(() => true, () => false))) usage(`cannot write there: ${dir} is not writable by you`);
}
