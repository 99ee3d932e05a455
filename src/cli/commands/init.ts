import type { Command } from 'commander';
import path from 'node:path';
import { initHome, KEY_FILE, SWARM_FILE } from '../home.js';
import { homeOption, resolveHome } from '../options.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create a swarm home: a fresh 32-byte swarm key (mode 0600) and swarm.json')
    .addOption(homeOption())
    .action(async (opts: { home: string }) => {
      const home = resolveHome(opts);
      await initHome(home);
      console.log(`initialized ${home} (${path.join(home, KEY_FILE)}, ${path.join(home, SWARM_FILE)})`);
    });
}
