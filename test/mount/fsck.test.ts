import test from 'ava';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { GcReport } from '../../src/client/index.js';
import { chunkFiles, cli, mountSwarm, sh, swarmCells, swarmUp, tmpDir, type FsckJson } from '../helpers/index.js';

/*
 * fsck on files written through a real mount: after files are overwritten
 * and gc ran, nothing is missing; a file whose chunks are gone from every
 * cell is named by its path, in the whole swarm and under its tree.
 */

const MiB = 1 << 20;

/** Every chunk file of every cell, by key. */
async function chunkKeys(home: string): Promise<Set<string>> {
  const cells = await swarmCells(home);
  return new Set((await Promise.all(cells.map(chunkFiles))).flat().map((f) => path.basename(f)));
}

/** Whether a chunk's bytes are a chunk map (JSON with a version and a chunk list). */
function isManifestFile(bytes: Buffer): boolean {
  try {
    return Array.isArray((JSON.parse(bytes.toString('utf8')) as { chunks?: unknown }).chunks);
  } catch {
    return false;
  }
}

async function fsckOf(home: string, ...args: string[]): Promise<{ code: number; report: FsckJson; stdout: string }> {
  const json = await cli(['fsck', '--home', home, '--json', ...args]);
  const plain = await cli(['fsck', '--home', home, ...args]);
  return { code: json.code, report: JSON.parse(json.stdout) as FsckJson, stdout: plain.stdout };
}

test.serial('fsck through a mount: 0 missing after overwrites and gc; a file whose chunks left every cell is named by path, whole and with fsck PATH', async (t) => {
  const src = await tmpDir(t);
  const home = await swarmUp(t, 3);
  const { mnt } = await mountSwarm(t, home, undefined, ['--chunk-size', '1M']);
  const prep = await sh(
    `set -e; for f in a b c; do head -c ${2 * MiB + 5} /dev/urandom > $f; done; mkdir -p "${mnt}/d/e" "${mnt}/x"
     cp a "${mnt}/d/a"; cp c "${mnt}/x/c"`,
    { cwd: src },
  );
  t.is(prep.code, 0, prep.stderr);
  const before = await chunkKeys(home);
  t.is((await sh(`cp b "${mnt}/d/e/b" && sync "${mnt}/d/e/b"`, { cwd: src })).code, 0);
  const ofB = [...(await chunkKeys(home))].filter((k) => !before.has(k));
  t.true(ofB.length >= 3, 'b: three chunks and its chunk map');

  // Overwritten files leave old versions behind: unused, never missing, before and after gc.
  t.is((await sh(`set -e; for i in 1 2 3; do head -c $((${MiB} + i)) /dev/urandom > "${mnt}/d/a"; head -c ${MiB} /dev/urandom > "${mnt}/x/c"; done`)).code, 0);
  const overwritten = await fsckOf(home);
  t.like(overwritten.report, { missing: 0, underReplicated: 0, files: 3, atRiskFiles: 0 });
  t.true(overwritten.report.unused > 0, 'old versions are unused');
  t.is(overwritten.code, 0);
  const ageAll = (await swarmCells(home)).map((c) => `"${c.data}/chunks"`).join(' ');
  t.is((await sh(`find ${ageAll} -type f -exec touch -d '2 hours ago' {} +`)).code, 0);
  const gc = await cli(['gc', '--home', home, '--json']);
  t.is(gc.code, 0, gc.stderr);
  t.true((JSON.parse(gc.stdout) as GcReport).copiesRemoved > 0);
  const collected = await fsckOf(home);
  t.like(collected.report, { missing: 0, underReplicated: 0, unused: 0, atRiskFiles: 0 });

  // b's data chunks deleted from every cell (its chunk map kept).
  const cells = await swarmCells(home);
  const files = (await Promise.all(cells.map(chunkFiles))).flat();
  const isMap = async (key: string) => isManifestFile(await readFile(files.find((f) => path.basename(f) === key)!));
  const data = (await Promise.all(ofB.map(async (k) => ((await isMap(k)) ? null : k)))).filter((k): k is string => k !== null);
  t.is(data.length, ofB.length - 1, 'all but the chunk map');
  for (const f of files) if (data.includes(path.basename(f))) await rm(f);
  const whole = await fsckOf(home);
  t.is(whole.code, 1);
  t.true(whole.report.missing >= 3);
  const atB = whole.report.atRisk.find((f) => f.path === '/d/e/b');
  t.truthy(atB, JSON.stringify(whole.report.atRisk));
  t.true(atB!.chunks.length >= 3 && atB!.chunks.every((c) => c.copies === 0));
  t.regex(whole.stdout, /1 files at risk:\n {2}\/d\/e\/b: \d+ chunks with no copy left/);

  const underD = await fsckOf(home, '/d');
  t.like(underD.report, { path: '/d', files: 2, atRiskFiles: 1 });
  t.is(underD.code, 1);
  // A path under the mount names the same tree.
  t.like((await fsckOf(home, path.join(mnt, 'd', 'e'))).report, { path: '/d/e', files: 1, atRiskFiles: 1 });
  const underX = await fsckOf(home, '/x');
  t.like(underX.report, { files: 1, missing: 0, atRiskFiles: 0 });
  t.is(underX.code, 0);
  const none = await cli(['fsck', '--home', home, '/nowhere']);
  t.not(none.code, 0);
  t.regex(none.stderr, /\/nowhere: no such file or directory in the swarm/);
});
