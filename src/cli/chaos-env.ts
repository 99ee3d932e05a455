import path from 'node:path';
import type { ChaosCell, ChaosEnv, ChaosOptions } from '../chaos/index.js';
import { cellPid } from '../cell/index.js';
import { setPacketFaults, type SwarmClient } from '../client/index.js';
import { spawnCellDaemon } from './daemon.js';
import { cellAddr, readSwarm } from './home.js';

/** Chaos acting on the cells of a home: SIGKILL by pid file, restart as a daemon, faults over the wire. */
export function homeChaosEnv(home: string, client: SwarmClient): ChaosEnv {
  return {
    cells: async () => (await readSwarm(home)).cells.map((c) => ({ name: c.name, data: c.data, addr: cellAddr(c) })),
    kill: async (cell: ChaosCell) => {
      const pid = await cellPid(cell.data);
      if (pid === null) return null;
      process.kill(pid, 'SIGKILL');
      return pid;
    },
    restart: async (cell: ChaosCell) => {
      const s = await readSwarm(home);
      const entry = s.cells.find((c) => c.data === cell.data)!;
      const seeds = s.cells.filter((c) => c !== entry).map(cellAddr);
      await spawnCellDaemon(path.resolve(cell.data), ['--home', home, '--data', entry.data, '--port', String(entry.port), '--host', entry.host, '--join', seeds.join(','), ...(entry.args ?? [])], () => undefined);
    },
    setFaults: async (faults: ChaosOptions['packets']) => {
      const addrs = (await readSwarm(home)).cells.map(cellAddr);
      await Promise.all(addrs.map((a) => setPacketFaults(client, a, faults, 1_000).catch(() => undefined)));
    },
    now: () => performance.now(),
    sleep: (ms: number, signal?: AbortSignal) =>
      new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener('abort', done, { once: true });
      }),
  };
}
