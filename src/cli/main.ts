import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { CellError } from '../core/index.js';
import { registerCell } from './commands/cell.js';
import { registerFiles } from './commands/files.js';
import { registerMount } from './commands/mount.js';
import { registerDemo, registerFaces } from './commands/faces.js';
import { registerInfo } from './commands/info.js';
import { registerInit } from './commands/init.js';
import { registerStats } from './commands/stats.js';
import { registerSwarm } from './commands/swarm.js';
import { UsageError } from './errors.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('cellsync')
    .description('CellSync: a self-healing distributed file system of cells that talk UDP')
    .version(pkg.version)
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError();
  registerInit(program);
  registerCell(program);
  registerSwarm(program);
  registerFiles(program);
  registerInfo(program);
  registerMount(program);
  registerFaces(program);
  registerStats(program);
  registerDemo(program);
  program.addHelpText(
    'after',
    `
Environment (clients: mount, put, get, fsck, gc, top, ...):
  CELLSYNC_HOME            the default for --home (~/.cellsync otherwise)
  CELLSYNC_DATAGRAM_BYTES  largest datagram a client sends (1200 across real networks; cells take --datagram-bytes)
  CELLSYNC_LOCAL=0         reach cells on this machine over UDP too, not through their files
  CELLSYNC_DIRECT_IO=0     read and write chunk files through the page cache, not with O_DIRECT (cells too)
  DEBUG=cellsync:*         debug logs (namespaces in README.md)`,
  );
  // Every subcommand reports usage errors through exitOverride, so main() picks the exit code.
  const override = (cmd: Command) => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  override(program);
  return program;
}

/** Exit codes: 0 ok, 1 runtime failure (one clear line on stderr), 2 wrong use. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      // Help asked for (`cellsync help put`) is not wrong use; help shown for a missing command (`cellsync`, `cellsync swarm`) is.
      if (err.code === 'commander.help') return argv[0] === 'help' ? 0 : 2;
      return 2;
    }
    if (err instanceof UsageError) {
      console.error(`cellsync: ${err.message}\n(add --help for usage)`);
      return 2;
    }
    // The reader of our output went away (`get ID | head -c 10`): quiet, as a program killed by SIGPIPE.
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return 128 + 13;
    const message = err instanceof CellError ? err.message : (err as Error).message;
    console.error(`cellsync: ${message}`);
    if (process.env.DEBUG?.includes('cellsync')) console.error((err as Error).stack);
    return 1;
  }
}

// Run when executed directly (bin/cellsync), not when imported by tests.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  // A closed pipe on stdout (`swarm up | head -1`) ends the output, not the command: further output is dropped.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
