import { Option, type Command } from 'commander';
import { INFECTION_CHUNKS, runChaos } from '../../chaos/index.js';
import { defaultConfig } from '../../core/index.js';
import { Top } from '../../dashboard/index.js';
import { formatReport, runDemo } from '../../demo/index.js';
import { homeChaosEnv } from '../chaos-env.js';
import { openSwarmClient, readSwarm, swarmReplicas } from '../home.js';
import { homeOption, parseIntArg, parseRate, resolveHome } from '../options.js';

export function registerFaces(program: Command): void {
  program
    .command('top')
    .description('live dashboard of the swarm (plain event lines when not a terminal); q or Ctrl-C quits')
    .addOption(homeOption())
    .option('--json', 'stream events as JSON lines')
    .option('--plain', 'timestamped event lines even on a terminal')
    .action(async (opts: { home: string; json?: boolean; plain?: boolean }) => {
      const home = resolveHome(opts);
      const { client, seeds } = await openSwarmClient(home);
      const mode = opts.json ? 'json' : opts.plain || !process.stdout.isTTY ? 'plain' : 'tty';
      const top = new Top({ client, seeds, mode, out: process.stdout, title: home, replicas: swarmReplicas(await readSwarm(home)) });
      top.start();
      await new Promise<void>((resolve) => {
        const done = () => resolve();
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
        // On a terminal, q (or Ctrl-C typed as a key) quits too.
        if (mode === 'tty' && process.stdin.isTTY) {
          process.stdin.setRawMode(true);
          process.stdin.on('data', (key: Buffer) => {
            if (key[0] === 0x71 || key[0] === 0x51 || key[0] === 0x03) done();
          });
        }
      });
      if (process.stdin.isTTY) {
        process.stdin.setRawMode(false);
        process.stdin.pause();
      }
      top.stop();
      await client.close();
    });

  const d = defaultConfig();
  program
    .command('chaos')
    .description('kill and restart random cells, corrupt random chunks, infect cells (a disk that keeps corrupting), inject packet faults, for a while; prints every action')
    .addOption(homeOption())
    .addOption(new Option('--duration <s>', 'seconds to run').argParser(parseIntArg(1, 86_400)).default(60))
    .addOption(new Option('--seed <n>', 'random seed: the same seed does the same actions (default: a random one, printed)').argParser(parseIntArg(0, 2 ** 31 - 1)))
    .addOption(new Option('--kill-every <s>', 'mean seconds between kills (0 = none)').argParser(parseIntArg(0, 86_400)).default(15))
    .addOption(new Option('--restart-after <s>', 'seconds before a killed cell is restarted').argParser(parseIntArg(0, 86_400)).default(10))
    .addOption(new Option('--corrupt-every <s>', 'mean seconds between chunk corruptions (0 = none)').argParser(parseIntArg(0, 86_400)).default(20))
    .addOption(new Option('--infect-every <s>', 'mean seconds between infections: a cell whose disk keeps corrupting chunks, until the guards get it quarantined (0 = none)').argParser(parseIntArg(0, 86_400)).default(0))
    .addOption(new Option('--infect-chunks <n>', 'chunks an infected disk corrupts, one every half second').argParser(parseIntArg(1, 1_000)).default(INFECTION_CHUNKS))
    .addOption(new Option('--max-infected <n>', 'cells infected in a run, at most (never killed meanwhile)').argParser(parseIntArg(0, 1_000)).default(1))
    .addOption(new Option('--max-dead <n>', 'cells down at once, at most').argParser(parseIntArg(0, 1_000)).default(Math.max(1, d.placement.replicas - 2)))
    .addOption(new Option('--packet-loss <p>', 'drop this share of datagrams inside every cell').argParser(parseRate).default(0))
    .addOption(new Option('--packet-dup <p>', 'duplicate this share of datagrams').argParser(parseRate).default(0))
    .addOption(new Option('--packet-reorder <p>', 'delay this share of datagrams').argParser(parseRate).default(0))
    .action(async (opts: {
      home: string;
      duration: number;
      seed?: number;
      killEvery: number;
      restartAfter: number;
      corruptEvery: number;
      infectEvery: number;
      infectChunks: number;
      maxInfected: number;
      maxDead: number;
      packetLoss: number;
      packetDup: number;
      packetReorder: number;
    }) => {
      const home = resolveHome(opts);
      const { client } = await openSwarmClient(home);
      const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
      console.log(`chaos: seed ${seed}, ${opts.duration} s (replay with --seed ${seed})`);
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      try {
        const summary = await runChaos(
          homeChaosEnv(home, client),
          {
            durationMs: opts.duration * 1000,
            seed,
            killEveryMs: opts.killEvery * 1000,
            restartAfterMs: opts.restartAfter * 1000,
            corruptEveryMs: opts.corruptEvery * 1000,
            infectEveryMs: opts.infectEvery * 1000,
            infectChunks: opts.infectChunks,
            maxInfected: opts.maxInfected,
            maxDead: opts.maxDead,
            packets: { lossRate: opts.packetLoss, dupRate: opts.packetDup, reorderRate: opts.packetReorder },
          },
          (a) => console.log(`+${(a.atMs / 1000).toFixed(1)}s ${a.kind} ${a.cell}: ${a.detail}`),
          abort.signal,
        );
        console.log(`chaos done: ${summary.kills} kills, ${summary.restarts} restarts, ${summary.corruptions} corruptions, ${summary.infected.length} cells infected`);
        for (const i of summary.infected) console.log(`${i.cell} was infected (${i.keys.length} chunks corrupted): once it is quarantined, cellsync cell rehab --home ${home} --data ${i.data} brings it back`);
      } finally {
        await client.close();
      }
    });
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the survival show: a local swarm, a mount, files copied in, chaos while every file is re-read and checked, healing, a report; exit 0 only if no byte was lost')
    .option('--home <dir>', 'swarm home to use (kept afterwards; default: a fresh temp dir, removed afterwards)')
    .addOption(new Option('--cells <n>', 'cells to start (4 to 64: three storage cells and a guard at least)').argParser(parseIntArg(4, 64)).default(6))
    .addOption(new Option('--duration <s>', 'seconds of chaos').argParser(parseIntArg(5, 3_600)).default(60))
    .addOption(new Option('--seed <n>', 'random seed of the files and the chaos (default: a random one, shown in the report)').argParser(parseIntArg(0, 2 ** 31 - 1)))
    .option('--json', 'print only the survival report, as JSON')
    .action(async (opts: { home?: string; cells: number; duration: number; seed?: number; json?: boolean }) => {
      const abort = new AbortController();
      let interrupts = 0;
      const onSignal = () => {
        interrupts++;
        if (interrupts > 1) process.exit(130);
        process.stderr.write('demo: interrupted; cleaning up (Ctrl-C again to quit at once)\n');
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
      const report = await runDemo({
        home: opts.home,
        cells: opts.cells,
        durationS: opts.duration,
        json: opts.json === true,
        seed,
        out: process.stdout,
        chaosEnv: (home, client) => homeChaosEnv(home, client),
        signal: abort.signal,
      });
      console.log(opts.json ? JSON.stringify(report) : formatReport(report));
      if (!report.ok) process.exitCode = 1;
    });
}
