import { Option, type Command } from 'commander';
import path from 'node:path';
import { stat, unlink, writeFile } from 'node:fs/promises';
import { Cell, QUARANTINE_MARKER, ROLES, cellPid, loadRole, type Role } from '../../cell/index.js';
import { forgetMember } from '../../client/index.js';
import { CellError, parseAddr, systemClock, systemRng, type Addr, type SwarmEvent } from '../../core/index.js';
import { cellUnit, notifySystemd } from '../systemd.js';
import { LOG_FILE, daemonLog, progressPrinter, spawnCellDaemon, stopCellDaemon, tellParent, type ReadyMessage } from '../daemon.js';
import { usage } from '../errors.js';
import { metricsAddrFrom, metricsAllowRemoteOption, metricsOption, metricsArgs, type MetricsOptions } from '../metrics-options.js';
import { cellAddr, loadKey, openSwarmClient, readSwarm, recordCell, writeSwarm } from '../home.js';
import {
  addCellConfigOptions,
  applySavedCellConfig,
  cellConfigArgs,
  cellConfigFrom,
  homeOption,
  parseHost,
  parseIntArg,
  resolveHome,
  type CellConfigOptions,
} from '../options.js';

interface StartOptions extends CellConfigOptions, MetricsOptions {
  home: string;
  data: string;
  host: string;
  port: number;
  join?: string;
  role?: Role;
  daemon?: boolean;
  printConfig?: boolean;
}

export function registerCell(program: Command): void {
  const cell = program.command('cell').description('run or stop one cell');

  addCellConfigOptions(
    cell
      .command('start')
      .description('start a cell serving the data dir (foreground unless --daemon)')
      .addOption(homeOption())
      .requiredOption('--data <dir>', "the cell's data directory (chunks, identity, pid and log files)")
      .addOption(new Option('--port <port>', 'UDP port (0 = any free port)').argParser(parseIntArg(0, 65535)).default(0))
      .addOption(new Option('--host <ip>', 'address to bind and advertise (one peers can reach: not 0.0.0.0)').argParser(parseHost).default('127.0.0.1'))
      .option('--join <addrs>', 'comma-separated host:port of cells to join through (default: the other cells in swarm.json)')
      .addOption(new Option('--role <role>', 'pin a role (default: start as stem and differentiate as the swarm needs)').choices(ROLES as string[]))
      .option('--daemon', 'detach: run in the background with cell.pid and cell.log in the data dir')
      .option('--print-config', 'print the effective configuration as JSON and exit')
      .addOption(metricsOption("the cell's"))
      .addOption(metricsAllowRemoteOption()),
  ).action(async (opts: StartOptions, cmd: Command) => {
    const home = resolveHome(opts);
    const dataDir = path.resolve(opts.data);
    // A cell of this home started again keeps its address and settings, unless given anew.
    const entry = (await readSwarm(home).catch(() => null))?.cells.find((c) => path.resolve(c.data) === dataDir);
    if (entry) {
      if (cmd.getOptionValueSource('port') === 'default') opts.port = entry.port;
      if (cmd.getOptionValueSource('host') === 'default') opts.host = entry.host;
      if (entry.args) {
        applySavedCellConfig(cmd, entry.args);
        Object.assign(opts, cmd.opts());
      }
    }
    const config = cellConfigFrom(opts);
    const metrics = metricsAddrFrom(opts);
    if (opts.printConfig) {
      console.log(JSON.stringify(config, null, 2));
      return;
    }
    const joined = opts.join !== undefined ? parseJoin(opts.join) : null;
    const key = await loadKey(home);
    const seeds = joined ?? (await otherCells(home, dataDir));
    if (opts.daemon) {
      const args = ['--home', home, '--data', dataDir, '--port', String(opts.port), '--host', opts.host, ...(opts.role ? ['--role', opts.role] : []), '--join', seeds.join(','), ...cellConfigArgs(opts), ...metricsArgs(opts)];
      const ready = await spawnCellDaemon(dataDir, args);
      await record(home, dataDir, ready, cellConfigArgs(opts));
      for (const line of ready.repairs ?? []) console.error(`cellsync: ${line}`);
      console.log(`cell ${ready.id} serving on ${ready.addr} (pid ${ready.pid}, data ${dataDir})`);
      if (ready.selfScrubChunks !== undefined) console.log(selfScrubNote(ready.selfScrubChunks, dataDir));
      if (ready.metrics) console.log(`metrics on ${ready.metrics}`);
      if (joined) {
        const { client } = await openSwarmClient(home);
        try {
          await warnIfAlone(home, joined, async () => (await client.status([ready.addr], 500)).members.length - 1);
        } finally {
          await client.close();
        }
      }
      return;
    }
    const saved = opts.role ? null : await loadRole(dataDir);
    const role = opts.role ?? saved?.role ?? 'stem';
    const c = await Cell.start(
      { clock: systemClock, rng: systemRng },
      {
        dataDir,
        host: opts.host,
        port: opts.port,
        seeds,
        swarmKey: key,
        config,
        role,
        rolePinned: opts.role !== undefined || saved?.pinned === true,
        // CELLSYNC_LOCAL=0: repair copies cross the network too, like every other chunk.
        localPushes: process.env.CELLSYNC_LOCAL !== '0',
        // A daemon tells its parent (which waits as long as it hears); in the foreground, stderr.
        onProgress: process.send ? (progress) => tellParent({ progress }) : progressPrinter('cell starting'),
        metrics,
      },
    );
    const ready: ReadyMessage = { ready: true, id: c.id, addr: c.address, pid: process.pid, repairs: c.repairs, ...(c.metricsUrl ? { metrics: c.metricsUrl } : {}) };
    if (c.isSelfScrubbing) ready.selfScrubChunks = c.store.stats().chunks;
    await record(home, dataDir, ready);
    // The cell's log: what it serves, then every event it records (deaths, repairs, corruptions, roles), stamped.
    const log = daemonLog(path.join(dataDir, LOG_FILE));
    log(`cell ${c.id} serving on ${c.address} (pid ${process.pid}, data ${dataDir})`);
    if (c.metricsUrl) log(`metrics on ${c.metricsUrl}`);
    const logEvent = (e: SwarmEvent) => log(`${e.type} ${(e.cellId ?? '').slice(0, 8)} ${e.detail ?? ''}`);
    c.events.recent().forEach(logEvent);
    c.events.onRecord = logEvent;
    if (process.send) {
      process.send(ready);
      process.disconnect();
    } else if (joined) {
      void warnIfAlone(home, joined, async () => c.membership.members().length - 1);
    }
    void notifySystemd({ READY: '1', STATUS: `serving on ${c.address}` }).then((failed) => failed && log(failed));
    await untilSignal(c, log);
  });

  cell
    .command('unit')
    .description(
      'print a systemd template unit for the cells of this machine: cellsync-cell@NAME runs the cell whose data directory is ' +
        'DATA_ROOT/NAME, ready once it serves, stopped in order; install it as /etc/systemd/system/cellsync-cell@.service',
    )
    .addOption(homeOption())
    .requiredOption('--data-root <dir>', 'the directory holding one data directory per cell (e.g. /var/lib/cellsync/cells)')
    .option('--user <name>', 'run the cells as this user (it must own the home and the data directories)')
    .action(async (opts: { home: string; dataRoot: string; user?: string }) => {
      process.stdout.write(cellUnit({ home: resolveHome(opts), dataRoot: path.resolve(opts.dataRoot), user: opts.user }));
    });

  cell
    .command('rehab')
    .description(
      'rehabilitate a quarantined cell: stop it and restart it with a new incarnation, which lifts the quarantine; it serves at once ' +
        'and re-reads its whole store in the background (corrupt chunks are removed and healed back)',
    )
    .addOption(homeOption())
    .requiredOption('--data <dir>', "the cell's data directory")
    .option('--force', 'rehabilitate a cell that is not quarantined (its whole store is re-read all the same)')
    .action(async (opts: { home: string; data: string; force?: boolean }) => {
      const home = resolveHome(opts);
      const dataDir = path.resolve(opts.data);
      const entry = (await readSwarm(home)).cells.find((c) => c.data === dataDir);
      if (!entry) usage(`${dataDir} is not a cell of ${home} (see swarm.json)`);
      const marker = path.join(dataDir, QUARANTINE_MARKER);
      const marked = await stat(marker).then(() => true, () => false);
      if (!marked && !opts.force && !(await isQuarantined(home, cellAddr(entry)))) {
        usage(
          `${entry.name} (${cellAddr(entry)}) is not quarantined: nothing to rehabilitate. ` +
            `To restart it: cellsync cell stop --data ${dataDir} && cellsync cell start --data ${dataDir} --daemon; ` +
            `to re-read its whole store anyway: cellsync cell rehab --force --data ${dataDir}`,
        );
      }
      const pid = await stopCellDaemon(dataDir);
      if (pid !== null) console.log(`stopped cell in ${dataDir} (pid ${pid})`);
      // The marker makes the next start scrub the store (in the background, once the cell serves).
      if (!marked) await writeFile(marker, `${Date.now()}\n`);
      const seeds = await otherCells(home, dataDir);
      let ready: ReadyMessage;
      try {
        ready = await spawnCellDaemon(dataDir, ['--home', home, '--data', dataDir, '--port', String(entry.port), '--host', entry.host, '--join', seeds.join(','), ...(entry.args ?? [])]);
      } catch (err) {
        // Nothing of this attempt stays behind: the marker only if the cell had it (spawnCellDaemon leaves no pid file).
        if (!marked) await unlink(marker).catch(() => undefined);
        throw new CellError((err as CellError).code ?? 'BAD_CONFIG', `${entry.name} was stopped and did not start again: ${(err as Error).message}`);
      }
      console.log(`cell ${ready.id} rehabilitated: serving on ${ready.addr} with a new incarnation (pid ${ready.pid})`);
      if (ready.selfScrubChunks !== undefined) console.log(selfScrubNote(ready.selfScrubChunks, dataDir));
    });

  cell
    .command('stop')
    .description('stop the cell running in a data dir and wait for it to exit')
    .addOption(homeOption())
    .requiredOption('--data <dir>', "the cell's data directory")
    .action(async (opts: { data: string }) => {
      const dataDir = path.resolve(opts.data);
      if (!(await stat(dataDir).catch(() => null))?.isDirectory()) throw new CellError('BAD_CONFIG', `${dataDir} is not a data directory`);
      const pid = await stopCellDaemon(dataDir);
      console.log(pid === null ? `no cell running in ${dataDir}` : `stopped cell in ${dataDir} (pid ${pid})`);
    });

  cell
    .command('forget')
    .description(
      'retire a dead or stopped cell for good: every cell drops it from its members (so gc runs again without --allow-dead) and swarm up no longer starts it; ' +
        'its data directory is left where it is. A forgotten cell started again simply rejoins',
    )
    .addOption(homeOption())
    .argument('<cell>', 'its id (or the start of it, as swarm status shows it) or its address host:port')
    .action(async (which: string, opts: { home: string }) => {
      const home = resolveHome(opts);
      const { client } = await openSwarmClient(home);
      try {
        const members = await client.members(true);
        let matches = members.filter((m) => m.addr === which || (which.length >= 4 && m.id.startsWith(which)));
        // A wiped cell restarted at the same address is another member: the dead one is meant.
        if (matches.length > 1) matches = matches.filter((m) => m.state === 'dead' || m.state === 'left');
        if (matches.length !== 1) {
          throw new CellError('BAD_REQUEST', `${matches.length === 0 ? 'no' : 'more than one'} member matches ${which} (see cellsync swarm status)`);
        }
        const gone = matches[0]!;
        if (gone.state !== 'dead' && gone.state !== 'left') {
          const when = gone.state === 'alive' ? 'stop it first (cellsync cell stop --data DIR); a cell' : 'a cell';
          throw new CellError(
            'BAD_REQUEST',
            `cell ${gone.id} (${gone.addr}) is ${gone.state}: only a dead or stopped cell can be forgotten; ${when} cut off is declared dead once the others have not heard from it for the failure timeout (about 10 s by default)`,
          );
        }
        const asked = members.filter((m) => m.state === 'alive' || m.state === 'suspect');
        const answers = await Promise.all(
          asked.map((m) => forgetMember(client, m.addr, gone.id, 1_500).then(() => true, () => false)),
        );
        const missed = asked.filter((_, i) => !answers[i]).map((m) => m.addr);
        const s = await readSwarm(home);
        const entry = s.cells.find((c) => cellAddr(c) === gone.addr);
        const dropped = entry && (await cellPid(entry.data)) === null;
        if (dropped) await writeSwarm(home, { ...s, cells: s.cells.filter((c) => c !== entry) });
        console.log(`forgot cell ${gone.id} (${gone.addr}): ${asked.length - missed.length} of ${asked.length} cells dropped it`);
        if (dropped) console.log(`removed ${entry.name} from ${path.join(home, 'swarm.json')}; its data directory ${entry.data} is kept`);
        if (missed.length > 0) console.error(`cellsync: warning: ${missed.join(', ')} did not answer; run cell forget again once they are back`);
      } finally {
        await client.close();
      }
    });
}

/** What a cell that was quarantined does once it serves. */
function selfScrubNote(chunks: number, dataDir: string): string {
  return `it was quarantined: its ${chunks} chunks are re-read and verified in the background while it serves (self-scrub-finished in ${path.join(dataDir, LOG_FILE)})`;
}

function parseJoin(list: string): Addr[] {
  const addrs = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const a of addrs) {
    try {
      parseAddr(a);
    } catch (err) {
      usage(`--join: ${(err as Error).message}`);
    }
  }
  return addrs;
}

/** Whether any cell that answers holds the cell at addr quarantined (a quarantined cell says so of itself too). */
async function isQuarantined(home: string, addr: Addr): Promise<boolean> {
  const { client, seeds } = await openSwarmClient(home);
  try {
    const views = await client.statusMany(seeds).catch(() => []);
    return views.some((v) => v.members.some((m) => m.addr === addr && m.state === 'quarantined'));
  } finally {
    await client.close();
  }
}

async function otherCells(home: string, dataDir: string): Promise<Addr[]> {
  return (await readSwarm(home)).cells.filter((c) => c.data !== dataDir).map(cellAddr);
}

async function record(home: string, dataDir: string, ready: ReadyMessage, args?: string[]): Promise<void> {
  const { host, port } = parseAddr(ready.addr);
  const before = (await readSwarm(home)).cells.find((c) => c.data === dataDir);
  await recordCell(home, { name: path.basename(dataDir), data: dataDir, host, port, args: args ?? before?.args });
}

/** Serves until SIGTERM or SIGINT, then stops in order; a second signal forces exit. */
function untilSignal(c: Cell, log: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) process.exit(1);
      stopping = true;
      log(`${sig}: stopping cell ${c.id}`);
      void notifySystemd({ STOPPING: '1' });
      c.stop().then(
        () => {
          log(`cell ${c.id} stopped`);
          resolve();
        },
        (err: Error) => {
          log(`stopping failed: ${err.message}`);
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** How long a cell started with --join may go without hearing from another before the CLI says so. */
const JOIN_WAIT_MS = 5_000;

/**
 * A cell told to join that hears from no other cell says so: a wrong address,
 * cells not running, or cells of another swarm, which drop every message they
 * cannot authenticate with their key, unanswered.
 */
async function warnIfAlone(home: string, seeds: Addr[], others: () => Promise<number>): Promise<void> {
  for (let waited = 0; waited < JOIN_WAIT_MS; waited += 250) {
    if ((await others().catch(() => 0)) > 0) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  console.error(
    `cellsync: warning: no cell at ${seeds.join(', ')} has answered in ${JOIN_WAIT_MS / 1000} s. Check the addresses, that those cells run, ` +
      `and that they belong to the swarm whose key is ${path.join(home, 'swarm.key')} (a cell drops what another swarm's key signed). ` +
      `This cell keeps running and trying.`,
  );
}
