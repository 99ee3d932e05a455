import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CellError, DATAGRAM_BYTES_MIN, makeDirs, writeFileAtomic, UDP_PAYLOAD_BYTES_MAX, defaultConfig, formatAddr, type Addr, type WireConfig } from '../core/index.js';
import type { SwarmClient } from '../client/index.js';
import { connectSwarm } from '../connect/index.js';

/** A swarm's home: its key, and the cells started from it. */
export interface SwarmFile {
  version: 1;
  createdAtMs: number;
  cells: CellEntry[];
}

export interface CellEntry {
  name: string;
  /** Absolute data directory. */
  data: string;
  host: string;
  port: number;
  /** The settings the cell was started with (config flags), so a restart keeps them. */
  args?: string[];
}

export const KEY_FILE = 'swarm.key';
export const SWARM_FILE = 'swarm.json';
export const SWARM_KEY_BYTES = 32;

export function defaultHome(): string {
  return process.env.CELLSYNC_HOME || path.join(os.homedir(), '.cellsync');
}

export async function isInitialized(home: string): Promise<boolean> {
  return stat(path.join(home, KEY_FILE)).then(
    () => true,
    () => false,
  );
}

/** Creates home with a fresh 32-byte key (mode 0600) and an empty swarm.json. */
export async function initHome(home: string): Promise<void> {
  if (await isInitialized(home)) {
    throw new CellError('BAD_CONFIG', `${home} is already initialized (it has ${KEY_FILE}); use another --home`);
  }
  await makeDirs(home, 0o700);
  await writeFileAtomic(path.join(home, KEY_FILE), randomBytes(SWARM_KEY_BYTES), { mode: 0o600 });
  await writeSwarm(home, { version: 1, createdAtMs: Date.now(), cells: [] });
}

export async function loadKey(home: string): Promise<Buffer> {
  try {
    const key = await readFile(path.join(home, KEY_FILE));
    if (key.length !== SWARM_KEY_BYTES) throw new CellError('BAD_CONFIG', `${path.join(home, KEY_FILE)} is not a ${SWARM_KEY_BYTES}-byte key`);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CellError('NOT_INITIALIZED', `${home} has no swarm key: check --home (or CELLSYNC_HOME); to make a new swarm there, run "cellsync init --home ${home}"`);
    }
    throw err;
  }
}

export async function readSwarm(home: string): Promise<SwarmFile> {
  const file = path.join(home, SWARM_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, createdAtMs: Date.now(), cells: [] };
    throw new CellError('BAD_CONFIG', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not echoed (JSON.parse's message quotes the text): a damaged file may hold any bytes.
    throw new CellError('BAD_CONFIG', `${file} is damaged: not valid JSON; fix it, or move it away and run "cellsync swarm up" to write a new one`);
  }
  const problems = swarmFileProblems(parsed);
  if (problems.length > 0) throw new CellError('BAD_CONFIG', `${file} is damaged:\n  ${problems.join('\n  ')}`);
  return parsed as SwarmFile;
}

/** Every problem of a parsed swarm.json, each naming the field (values are quoted only when short and printable). */
export function swarmFileProblems(v: unknown): string[] {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return ['not a JSON object'];
  const o = v as Record<string, unknown>;
  if (o.version !== 1) return [`version: expected 1, found ${shown(o.version)}`];
  if (!Array.isArray(o.cells)) return ['cells: expected a list of cells'];
  const problems: string[] = [];
  o.cells.forEach((c: unknown, i) => {
    const where = `cells[${i}]`;
    if (typeof c !== 'object' || c === null) return problems.push(`${where}: expected an object`);
    const e = c as Record<string, unknown>;
    if (typeof e.name !== 'string' || e.name === '') problems.push(`${where}.name: expected a name such as "cell-1", found ${shown(e.name)}`);
    if (typeof e.data !== 'string' || !path.isAbsolute(e.data)) problems.push(`${where}.data: expected an absolute directory, found ${shown(e.data)}`);
    if (typeof e.host !== 'string' || e.host === '') problems.push(`${where}.host: expected an IP address such as "127.0.0.1", found ${shown(e.host)}`);
    if (!Number.isInteger(e.port) || (e.port as number) < 0 || (e.port as number) > 65535) problems.push(`${where}.port: expected a whole number from 0 to 65535, found ${shown(e.port)}`);
    if (e.args !== undefined && !(Array.isArray(e.args) && e.args.every((a) => typeof a === 'string'))) problems.push(`${where}.args: expected a list of strings`);
    return undefined;
  });
  return problems;
}

/** A value as a message may show it: short printable text or a number, otherwise its kind. */
function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'string') return /^[\x20-\x7e]{0,40}$/.test(v) ? JSON.stringify(v) : `a string of ${v.length} characters`;
  return Array.isArray(v) ? 'a list' : 'an object';
}

export async function writeSwarm(home: string, s: SwarmFile): Promise<void> {
  await writeFileAtomic(path.join(home, SWARM_FILE), JSON.stringify(s, null, 2) + '\n');
}

/** Options for tests only (hidden from --help): they go to a daemon but are never saved for its restarts. */
const TEST_ONLY_OPTIONS = new Set(['--test-false-alert-ms']);

/** The arguments a cell's restarts keep: test-only options (and their values) left out. */
export function savedCellArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (TEST_ONLY_OPTIONS.has(args[i]!)) i++;
    else out.push(args[i]!);
  }
  return out;
}

/** Adds or updates a cell (matched by data dir); test-only options are not saved. */
export async function recordCell(home: string, entry: CellEntry): Promise<void> {
  if (entry.args) entry = { ...entry, args: savedCellArgs(entry.args) };
  const s = await readSwarm(home);
  const i = s.cells.findIndex((c) => c.data === entry.data);
  if (i >= 0) s.cells[i] = entry;
  else s.cells.push(entry);
  await writeSwarm(home, s);
}

/** The replica count R the cells of this home were started with (the largest if they differ; the default if none says). */
export function swarmReplicas(s: SwarmFile): number {
  const given = s.cells.map((c) => Number(c.args?.[c.args.indexOf('--replicas') + 1])).filter((n) => Number.isInteger(n) && n > 0);
  return given.length ? Math.max(...given) : defaultConfig().placement.replicas;
}

export function cellAddr(c: CellEntry): Addr {
  return formatAddr(c.host, c.port);
}

/** A client of the swarm of a home: its key, and its cells as seeds. A mount passes its directory (see LocalCells). */
export async function openSwarmClient(home: string, ownMount?: string): Promise<{ client: SwarmClient; seeds: Addr[] }> {
  const key = await loadKey(home);
  const seeds = (await readSwarm(home)).cells.map(cellAddr);
  // CELLSYNC_LOCAL=0: every chunk crosses the network, even to and from cells on this machine.
  const localCells = process.env.CELLSYNC_LOCAL !== '0';
  return { client: await connectSwarm({ swarmKey: key, seeds, wire: clientWire(), localCells, ownMount }), seeds };
}

/**
 * Wire settings for clients (the mount, put, get, fsck, ...): the size of the
 * datagrams they send follows CELLSYNC_DATAGRAM_BYTES, like the cells'
 * --datagram-bytes (1200 on real networks, where 60 KiB datagrams would be cut
 * into IP fragments).
 */
function clientWire(): WireConfig {
  const wire = { ...defaultConfig().wire };
  const env = Number(process.env.CELLSYNC_DATAGRAM_BYTES);
  if (Number.isInteger(env) && env >= DATAGRAM_BYTES_MIN && env <= UDP_PAYLOAD_BYTES_MAX) wire.datagramBytesMax = env;
  return wire;
}
