import { defaultConfig, systemClock, systemRng } from '../core/index.js';
import { SwarmClient, type SwarmClientInit } from '../client/index.js';
import { LocalCellDisks } from '../store/index.js';
import { UdpTransport } from '../transport/index.js';

export interface ConnectInit extends SwarmClientInit {
  /** Local address to bind (default: loopback if every seed is on loopback, else any). */
  host?: string;
  /**
   * Read and hand over chunks as files with cells on this machine when they
   * grant it (default true; see LocalCells). False: every chunk and record
   * crosses the network, even to and from cells here.
   */
  localCells?: boolean;
}

/**
 * A client of a swarm for a real process (the CLI, a mount, the faces,
 * benchmarks): a UDP socket of its own, the system clock and randomness,
 * and the cells' disks on this machine as the store reads and writes them.
 * Tests on a simulated network build a SwarmClient from their own parts.
 */
export async function connectSwarm(init: ConnectInit): Promise<SwarmClient> {
  const wire = init.wire ?? defaultConfig().wire;
  // A socket bound to loopback cannot reach cells on other machines.
  const onLoopback = (init.seeds ?? []).every((a) => a.startsWith('127.'));
  const host = init.host ?? (onLoopback ? '127.0.0.1' : '0.0.0.0');
  const transport = await UdpTransport.bind({ host, port: 0, socketBufferBytes: wire.socketBufferBytes });
  const clock = systemClock;
  const localDisk = init.localCells === false ? undefined : new LocalCellDisks({ clock });
  return new SwarmClient({ transport, clock, rng: systemRng, localDisk }, { ...init, wire });
}
