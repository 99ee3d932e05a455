import { readFile, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { isChunkKey, type ChunkKey } from '../core/index.js';
import { usage } from './errors.js';

/** A CellSync mount on this machine: its mount point and the pid of its mount process ("cellsync:<pid>" in /proc/mounts). */
interface CellsyncMount {
  mountPoint: string;
  pid: number;
}

/** What a command-line argument names in a swarm: a path (and the home of the mount it lies under, if any), or a put. */
export type SwarmTarget = { path: string; mountHome: string | null; isMountPath: boolean } | { put: ChunkKey };

async function cellsyncMounts(): Promise<CellsyncMount[]> {
  return (await readFile('/proc/mounts', 'utf8').catch(() => ''))
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[0]?.startsWith('cellsync:'))
    .map((f) => ({ mountPoint: f[1]!.replace(/\\040/g, ' '), pid: Number(f[0]!.slice('cellsync:'.length)) }));
}

/** The innermost CellSync mount `abs` lies under, if any. */
async function mountOf(abs: string): Promise<CellsyncMount | undefined> {
  return (await cellsyncMounts()).filter((m) => abs === m.mountPoint || abs.startsWith(m.mountPoint + '/')).sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
}

/**
 * The path in the swarm that `target` names: under a CellSync mount, the
 * part below its mount point; otherwise target itself, taken from the
 * swarm's root.
 */
export async function swarmPathOf(target: string): Promise<string> {
  const abs = path.resolve(target);
  const at = await mountOf(abs);
  if (at !== undefined) return '/' + path.relative(at.mountPoint, abs);
  return path.posix.normalize('/' + target);
}

/**
 * What `info` and `setr` are given: a put id; a path under a CellSync
 * mount (its swarm is the mount's: the --home its process was started
 * with); or an absolute path in the swarm ("/photos"). A relative path not
 * under a mount is not in CellSync: wrong use, said so.
 */
export async function swarmTargetOf(arg: string): Promise<SwarmTarget> {
  if (isChunkKey(arg) && !(await stat(arg).catch(() => null))) return { put: arg };
  const abs = path.resolve(arg);
  const at = await mountOf(abs);
  if (at !== undefined) return { path: '/' + path.relative(at.mountPoint, abs), mountHome: await homeOfMount(at.pid), isMountPath: true };
  if (!arg.startsWith('/')) {
    usage(`${arg}: not in CellSync: ${abs} is not under a CellSync mount (give a path under a mount, a path in the swarm such as /photos, or a put id)`);
  }
  return { path: path.posix.normalize(arg), mountHome: null, isMountPath: false };
}

/** Whether a path exists on this machine's file systems (a path not in CellSync, when the swarm has no such path). */
export async function existsLocally(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null)) !== null;
}

/** The swarm home a mount process was started with (its --home, or CELLSYNC_HOME), or null if it cannot be read. */
async function homeOfMount(pid: number): Promise<string | null> {
  const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
  const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '/');
  const at = args.indexOf('--home');
  const given = at >= 0 ? args[at + 1] : args.find((a) => a.startsWith('--home='))?.slice('--home='.length);
  if (given) return path.resolve(cwd, given);
  const env = (await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '')).split('\0').find((e) => e.startsWith('CELLSYNC_HOME='));
  return env ? path.resolve(cwd, env.slice('CELLSYNC_HOME='.length)) : null;
}
