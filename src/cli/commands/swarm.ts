import { Option, type Command } from 'commander';
import path from 'node:path';
import { cellPid } from '../../cell/index.js';
import type { CellStatus, SwarmClient } from '../../client/index.js';
import { connectSwarm } from '../../connect/index.js';
import { CellError, parseAddr, type Addr } from '../../core/index.js';
import { progressPrinter, spawnCellDaemon, stopCellDaemon } from '../daemon.js';
import { cellAddr, initHome, isInitialized, loadKey, readSwarm, recordCell, type CellEntry, openSwarmClient } from '../home.js';
import { metricsAddrFrom, metricsAllowRemoteOption, metricsOption, metricsArgs, type MetricsOptions } from '../metrics-options.js';
import { addCellConfigOptions, cellConfigArgs, cellConfigFrom, givenCellConfigArgs, homeOption, parseHost, parseIntArg, resolveHome, type CellConfigOptions } from '../options.js';

interface UpOptions extends CellConfigOptions, MetricsOptions {
  home: string;
  cells?: number;
  basePort: number;
  host: string;
  role?: string;
}

export function registerSwarm(program: Command): void {
  const swarm = program.command('swarm').description('run a local swarm of cells as background daemons');

  addCellConfigOptions(
    swarm
      .command('up')
      .description('start N cells as daemons under <home>/cells (initializes home if needed; restarts stopped cells); returns once they see each other')
      .addOption(homeOption())
      .addOption(new Option('--cells <n>', 'number of cells (default: those recorded in swarm.json, or 5 for a new swarm)').argParser(parseIntArg(1, 256)))
      .addOption(new Option('--base-port <port>', 'first UDP port; cell i gets base+i (0 = any free ports)').argParser(parseIntArg(0, 65535)).default(7400))
      .addOption(new Option('--host <ip>', 'address the cells bind and advertise (one peers can reach: not 0.0.0.0)').argParser(parseHost).default('127.0.0.1'))
      .addOption(new Option('--role <role>', 'pin the role of every cell (default: stem cells that differentiate)').choices(['storage', 'guard', 'stem']))
      .addOption(metricsOption("each cell's (cell i on PORT+i)"))
      .addOption(metricsAllowRemoteOption()),
  ).action(async (opts: UpOptions, cmd: Command) => {
    const home = resolveHome(opts);
    cellConfigFrom(opts); // validate before starting anything
    metricsAddrFrom(opts);
    if (!(await isInitialized(home))) {
      await initHome(home);
      console.log(`initialized ${home}`);
    }
    const s = await readSwarm(home);
    const count = opts.cells ?? (s.cells.length || 5);
    const entries: CellEntry[] = s.cells.slice(0, count);
    // New cells take names and ports that no recorded cell has (a cell started by hand may sit on base + i).
    const names = new Set(s.cells.map((c) => c.name));
    const ports = new Set(s.cells.map((c) => c.port));
    let n = 0;
    while (entries.length < count) {
      n++;
      const name = `cell-${n}`;
      const port = opts.basePort === 0 ? 0 : opts.basePort + n - 1;
      if (names.has(name) || (port !== 0 && ports.has(port))) continue;
      entries.push({ name, data: path.join(home, 'cells', name), host: opts.host, port });
    }
    const live: Addr[] = [];
    for (const e of entries) {
      const pid = await cellPid(e.data);
      if (pid !== null) {
        console.log(`${e.name}  already running  ${cellAddr(e)}  pid ${pid}`);
        live.push(cellAddr(e));
      }
    }
    for (const [i, e] of entries.entries()) {
      if ((await cellPid(e.data)) !== null) continue;
      // A cell started before keeps its settings; options given now are added to them (the last one wins).
      const config = e.args ? [...e.args, ...givenCellConfigArgs(cmd)] : cellConfigArgs(opts);
      const args = ['--home', home, '--data', e.data, '--port', String(e.port), '--host', e.host, ...(opts.role ? ['--role', opts.role] : []), '--join', live.join(','), ...config, ...metricsArgs(opts, i)];
      const ready = await spawnCellDaemon(e.data, args, progressPrinter(e.name)).catch((err: Error) => {
        const hint = /EADDRINUSE/.test(err.message) ? ` (port ${e.port} is taken: choose another --base-port)` : '';
        throw new CellError('BAD_CONFIG', `${e.name} did not start: ${err.message}${hint}`);
      });
      const { host, port } = parseAddr(ready.addr);
      await recordCell(home, { ...e, host, port, args: config });
      live.push(ready.addr);
      console.log(`${e.name}  ${ready.id}  ${ready.addr}  pid ${ready.pid}${ready.metrics ? `  metrics ${ready.metrics}` : ''}${ready.selfScrubChunks !== undefined ? `  (was quarantined: scrubbing its ${ready.selfScrubChunks} chunks in the background)` : ''}`);
    }
    await awaitMembership(home, live);
    if (!opts.role) await awaitDifferentiation(home, live, cellConfigFrom(opts).placement.replicas);
    console.log(`swarm of ${entries.length} cells up in ${home}`);
  });

  swarm
    .command('status')
    .description("the swarm's members as seen by the first cell that answers")
    .addOption(homeOption())
    .option('--json', 'print {"cells":[{id,addr,pid,role,state,chunks,bytes,lastHeardMs}], "healing":[{id,activity}], ...} for scripts')
    .action(async (opts: { home: string; json?: boolean }) => {
      const home = resolveHome(opts);
      // Seeded with the cells' addresses: a client bound to loopback could not reach cells on other machines.
      const { client, seeds: addrs } = await openSwarmClient(home);
      try {
        const views = await client.statusMany(addrs);
        const st = trustedView(views);
        const cells = st.members.map((m) => ({
          id: m.id,
          addr: m.addr,
          pid: m.pid,
          role: m.role,
          state: m.state,
          chunks: m.chunks,
          bytes: m.bytes,
          lastHeardMs: m.lastHeardMs,
        }));
        // What healing does on each cell, or why a repair waits.
        const healing = views.filter((v) => v.heal.activity).map((v) => ({ id: v.id, activity: v.heal.activity }));
        if (opts.json) {
          console.log(JSON.stringify({ cells, seenBy: st.id, wire: st.wire, healing }));
          return;
        }
        printTable(cells);
        for (const h of healing) console.log(`healing on ${h.id}: ${h.activity}`);
        const w = st.wire;
        const dropped = Object.entries(w.dropped).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
        console.log(`\nseen by ${st.id} (${st.addr}); its wire: sent ${w.framesSent}, received ${w.framesReceived}, retransmitted ${w.retransmitted}, dropped: ${dropped}`);
      } finally {
        await client.close();
      }
    });

  swarm
    .command('down')
    .description('stop every cell of this home and wait for them to exit (data is kept)')
    .addOption(homeOption())
    .action(async (opts: { home: string }) => {
      const home = resolveHome(opts);
      await loadKey(home); // a home that is not one (a typo) is an error, not "0 cells stopped"
      const s = await readSwarm(home);
      const stopped = await Promise.all(s.cells.map(async (c) => ({ c, pid: await stopCellDaemon(c.data) })));
      for (const { c, pid } of stopped) if (pid !== null) console.log(`stopped ${c.name} (pid ${pid})`);
      console.log(`swarm down: ${stopped.filter((x) => x.pid !== null).length} cells stopped`);
    });
}

/** The view of a cell the others do not hold quarantined (a quarantined cell still thinks well of itself). */
function trustedView(views: CellStatus[]): CellStatus {
  const distrusted = (v: CellStatus) => views.some((o) => o.id !== v.id && o.members.some((m) => m.id === v.id && m.state === 'quarantined'));
  return views.find((v) => !distrusted(v)) ?? views[0]!;
}

/**
 * Asks the cells until `done` says the swarm is ready (true), up to
 * `timeoutMs`, with one client for the whole wait: false if it never was.
 */
async function waitForSwarm(home: string, addrs: Addr[], timeoutMs: number, intervalMs: number, done: (client: SwarmClient) => Promise<boolean>): Promise<boolean> {
  const client = await connectSwarm({ swarmKey: await loadKey(home), seeds: addrs });
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await done(client)) return true;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    return false;
  } finally {
    await client.close();
  }
}

/**
 * Waits (up to 10 s) until every cell sees every other alive: a client asks
 * the first cell that answers for the members, and a `put` right after
 * `swarm up` on a loaded machine was refused for want of cells by a cell
 * that had not yet heard from the others.
 */
async function awaitMembership(home: string, addrs: Addr[]): Promise<void> {
  if (addrs.length < 2) return;
  const seesAll = (v: CellStatus) => addrs.every((a) => v.members.some((m) => m.addr === a && m.state === 'alive'));
  const joined = await waitForSwarm(home, addrs, 10_000, 100, async (client) => {
    const views: CellStatus[] = await client.statusMany(addrs).catch(() => []);
    return views.length === addrs.length && views.every(seesAll);
  });
  if (!joined) console.log('cells still joining each other (see cellsync swarm status)');
}

/** Stem cells take roles within seconds: return once R storage cells serve, so a put right after works. */
async function awaitDifferentiation(home: string, addrs: Addr[], replicas: number): Promise<void> {
  const differentiated = await waitForSwarm(home, addrs, 20_000, 250, async (client) => {
    const members = await client.members(true).catch(() => []);
    if (members.filter((m) => m.role === 'storage' && m.state === 'alive').length < Math.min(replicas, addrs.length)) return false;
    console.log(`roles: ${['storage', 'guard', 'stem'].map((r) => `${members.filter((m) => m.role === r).length} ${r}`).join(', ')}`);
    return true;
  });
  if (!differentiated) console.log('roles: still differentiating (see cellsync swarm status)');
}

function printTable(rows: Record<string, string | number>[]): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]!);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(width[i]!)).join('  ').trimEnd();
  console.log(line(cols.map((c) => c.toUpperCase())));
  for (const r of rows) console.log(line(cols.map((c) => String(r[c]))));
}
