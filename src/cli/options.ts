import { InvalidArgumentError, Option, type Command } from 'commander';
import os from 'node:os';
import path from 'node:path';
import { CHUNK_BYTES_MAX, MEMBERSHIP_DETECTORS, defaultConfig, validateConfig, type CellConfig, type MembershipDetector } from '../core/index.js';
import { defaultHome } from './home.js';
import { usage } from './errors.js';

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "512M", "10g", "4096" -> bytes. */
export function parseBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError('expected a size such as 4096, 512M or 10G');
  return Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "10m", "1h", "2d", "0" -> ms (units in lower case: "10M" is not ten minutes). */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m || (Number(m[1]) > 0 && !m[2])) throw new InvalidArgumentError('expected a duration such as 90s, 10m, 1h or 2d');
  return Math.round(Number(m[1]) * (m[2] ? DURATION_UNITS[m[2]]! : 1));
}

export function parseIntArg(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

export function parseRate(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError('expected a probability from 0 to below 1, e.g. 0.05');
  return n;
}

/** --chunk-size: 4K..4M, 4M by default. */
export function chunkSizeOption(what: string): Option {
  const parse = (v: string): number => {
    const n = parseBytes(v);
    if (n < 4096 || n > CHUNK_BYTES_MAX) throw new InvalidArgumentError('expected a size from 4K to 4M');
    return n;
  };
  return new Option('--chunk-size <bytes>', what).argParser(parse).default(defaultConfig().placement.chunkBytes, '4M');
}

export function homeOption(): Option {
  return new Option('--home <dir>', 'swarm home (key and swarm.json)').env('CELLSYNC_HOME').default(defaultHome(), '~/.cellsync');
}

export function resolveHome(opts: { home: string }): string {
  return path.resolve(opts.home);
}

/** Options that tune a cell, each defaulting to defaultConfig() and overridable by a CELLSYNC_* variable. */
export function addCellConfigOptions(cmd: Command): Command {
  const d = defaultConfig();
  return cmd
    .addOption(new Option('--capacity <bytes>', 'bytes of chunks each cell may hold (0 = free disk space)').argParser(parseBytes).env('CELLSYNC_CAPACITY').default(d.store.capacityBytes))
    .addOption(
      new Option('--membership <detector>', 'failure detector: swim (gossip, scales to thousands of cells) or mesh (every cell heartbeats every cell)')
        .choices(MEMBERSHIP_DETECTORS)
        .env('CELLSYNC_MEMBERSHIP')
        .default(d.membership.detector),
    )
    .addOption(new Option('--heartbeat-ms <ms>', 'heartbeat interval (mesh)').argParser(parseIntArg(10, 600_000)).env('CELLSYNC_HEARTBEAT_MS').default(d.membership.heartbeatIntervalMs))
    .addOption(new Option('--failure-timeout-ms <ms>', 'silence after which a member is suspect (mesh; > 3 heartbeats)').argParser(parseIntArg(10, 3_600_000)).env('CELLSYNC_FAILURE_TIMEOUT_MS').default(d.membership.failureTimeoutMs))
    .addOption(new Option('--datagram-bytes <n>', 'largest datagram sent (1200 for real networks)').argParser(parseIntArg(1_200, 65_507)).env('CELLSYNC_DATAGRAM_BYTES').default(d.wire.datagramBytesMax))
    .addOption(new Option('--replicas <n>', 'copies kept of each chunk whose put did not say (R)').argParser(parseIntArg(1, 16)).env('CELLSYNC_REPLICAS').default(d.placement.replicas))
    .addOption(new Option('--repair-rate <bytes>', 'repair bandwidth per cell, per second').argParser(parseBytes).env('CELLSYNC_REPAIR_RATE').default(d.heal.repairBytesPerSec))
    .addOption(new Option('--anti-entropy-ms <ms>', 'period of the full repair pass').argParser(parseIntArg(100, 3_600_000)).env('CELLSYNC_ANTI_ENTROPY_MS').default(d.heal.antiEntropyMs))
    .addOption(new Option('--left-grace-ms <ms>', 'a cell stopped in order keeps its place this long: nothing is copied in its stead unless it stays away longer').argParser(parseIntArg(1, 86_400_000)).env('CELLSYNC_LEFT_GRACE_MS').default(d.heal.leftGraceMs))
    .addOption(new Option('--scrub-rate <bytes>', 'bytes per second a guard re-reads and re-hashes').argParser(parseBytes).env('CELLSYNC_SCRUB_RATE').default(d.immune.scrubBytesPerSec))
    .addOption(new Option('--self-scrub-rate <bytes>', "bytes per second a cell re-reads of its own store after a quarantine (in the background while it serves)").argParser(parseBytes).env('CELLSYNC_SELF_SCRUB_RATE').default(d.store.selfScrubBytesPerSec))
    .addOption(new Option('--scrub-period-ms <ms>', 'a guard starts a full scrub pass this often').argParser(parseIntArg(1_000, 86_400_000)).env('CELLSYNC_SCRUB_PERIOD_MS').default(d.immune.scrubPeriodMs))
    .addOption(new Option('--quarantine-after <n>', 'confirmed corrupt chunks before a cell is quarantined (1 = the first)').argParser(parseIntArg(1, 1_000_000)).env('CELLSYNC_QUARANTINE_AFTER').default(d.immune.quarantineAfter))
    .addOption(new Option('--test-false-alert-ms <ms>', 'test hook: a guard sends false alerts this often').argParser(parseIntArg(0, 86_400_000)).default(0).hideHelp())
    .addOption(new Option('--loss <p>', 'fault injection: drop this share of sent datagrams').argParser(parseRate).env('CELLSYNC_LOSS').default(0))
    .addOption(new Option('--dup <p>', 'fault injection: duplicate this share of sent datagrams').argParser(parseRate).env('CELLSYNC_DUP').default(0))
    .addOption(new Option('--reorder <p>', 'fault injection: delay this share of sent datagrams (reordering)').argParser(parseRate).env('CELLSYNC_REORDER').default(0));
}

export interface CellConfigOptions {
  capacity: number;
  replicas: number;
  repairRate: number;
  antiEntropyMs: number;
  leftGraceMs: number;
  scrubRate: number;
  selfScrubRate: number;
  scrubPeriodMs: number;
  quarantineAfter: number;
  testFalseAlertMs: number;
  membership: MembershipDetector;
  heartbeatMs: number;
  failureTimeoutMs: number;
  datagramBytes: number;
  loss: number;
  dup: number;
  reorder: number;
}

export function cellConfigFrom(o: CellConfigOptions): CellConfig {
  const c = defaultConfig();
  c.store.capacityBytes = o.capacity;
  c.placement.replicas = o.replicas;
  c.placement.writeQuorum = Math.min(c.placement.writeQuorum, o.replicas);
  c.heal.repairBytesPerSec = o.repairRate;
  c.heal.antiEntropyMs = o.antiEntropyMs;
  c.heal.leftGraceMs = o.leftGraceMs;
  c.immune.scrubBytesPerSec = o.scrubRate;
  c.store.selfScrubBytesPerSec = o.selfScrubRate;
  c.immune.scrubPeriodMs = o.scrubPeriodMs;
  c.immune.quarantineAfter = o.quarantineAfter;
  c.immune.testFalseAlertMs = o.testFalseAlertMs;
  c.membership.detector = o.membership;
  c.membership.heartbeatIntervalMs = o.heartbeatMs;
  c.membership.failureTimeoutMs = o.failureTimeoutMs;
  c.membership.tickMs = Math.min(c.membership.tickMs, o.heartbeatMs);
  c.wire.datagramBytesMax = o.datagramBytes;
  c.faults = { ...c.faults, lossRate: o.loss, dupRate: o.dup, reorderRate: o.reorder };
  const problems = validateConfig(c);
  if (problems.length > 0) usage(`invalid settings:\n  ${problems.join('\n  ')}`);
  return c;
}

/** "--anti-entropy-ms" -> "antiEntropyMs": the key commander keeps an option under. */
function optionKey(flag: string): string {
  return flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The cell options given on this command line or in the environment (not defaults), as arguments. */
export function givenCellConfigArgs(cmd: Command): string[] {
  const all = cellConfigArgs(cmd.opts() as CellConfigOptions);
  const given: string[] = [];
  for (let i = 0; i < all.length; i += 2) {
    const source = cmd.getOptionValueSource(optionKey(all[i]!));
    if (source === 'cli' || source === 'env') given.push(all[i]!, all[i + 1]!);
  }
  return given;
}

/**
 * A cell started again keeps the settings it was first started with (saved
 * in swarm.json): each option left at its default takes the saved value.
 */
export function applySavedCellConfig(cmd: Command, saved: string[]): void {
  for (let i = 0; i + 1 < saved.length; i += 2) {
    const key = optionKey(saved[i]!);
    if (cmd.getOptionValueSource(key) !== 'default') continue;
    // Words (--membership) are kept as they are; every other option is a number.
    const value = typeof cmd.getOptionValue(key) === 'string' ? saved[i + 1]! : Number(saved[i + 1]);
    if (typeof value === 'string' || Number.isFinite(value)) cmd.setOptionValueWithSource(key, value, 'config');
  }
}

/** The same options as arguments, to hand to a daemon child. */
export function cellConfigArgs(o: CellConfigOptions): string[] {
  return [
    '--capacity', String(o.capacity),
    '--replicas', String(o.replicas),
    '--repair-rate', String(o.repairRate),
    '--anti-entropy-ms', String(o.antiEntropyMs),
    '--left-grace-ms', String(o.leftGraceMs),
    '--scrub-rate', String(o.scrubRate),
    '--self-scrub-rate', String(o.selfScrubRate),
    '--scrub-period-ms', String(o.scrubPeriodMs),
    '--quarantine-after', String(o.quarantineAfter),
    '--membership', o.membership,
    '--heartbeat-ms', String(o.heartbeatMs),
    '--failure-timeout-ms', String(o.failureTimeoutMs),
    '--datagram-bytes', String(o.datagramBytes),
    '--loss', String(o.loss),
    '--dup', String(o.dup),
    '--reorder', String(o.reorder),
    // A test hook goes to the daemon only when set (and is never saved: see recordCell).
    ...(o.testFalseAlertMs ? ['--test-false-alert-ms', String(o.testFalseAlertMs)] : []),
  ];
}

/**
 * --host: the address a cell binds is the one it advertises to its peers,
 * so a wildcard (0.0.0.0, ::) is refused with the addresses to use instead.
 */
export function parseHost(v: string): string {
  const host = v.trim();
  if (host === '') throw new InvalidArgumentError('expected an IP address such as 127.0.0.1');
  if (WILDCARD_HOSTS.has(host)) {
    const own = Object.values(os.networkInterfaces())
      .flat()
      .filter((i) => i && i.family === 'IPv4' && !i.internal)
      .map((i) => i!.address);
    throw new InvalidArgumentError(
      `${host} means "every address" and cannot be advertised: the cell binds the address it gives its peers. ` +
        `Use 127.0.0.1 for a swarm on this machine, or this machine's address on the cells' network${own.length ? ` (here: ${own.join(', ')})` : ''}.`,
    );
  }
  return host;
}

/** Addresses that bind every interface but reach no one when given to a peer. */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '0']);
