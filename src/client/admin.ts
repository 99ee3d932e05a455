import type { Addr, CellId } from '../core/index.js';
import { Messages, type PacketFaults } from '../wire/index.js';
import type { SwarmClient } from './swarm-client.js';

/** What an operator asks of one cell (`cellsync cell forget`, `cellsync chaos`): the CLI speaks to cells only through these. */

/** Asks a cell to drop a dead member for good; resolves with whether it did (false: not dead there, or not known). */
export async function forgetMember(client: SwarmClient, addr: Addr, id: CellId, timeoutMs: number): Promise<boolean> {
  return (await client.endpoint.call(addr, Messages.FORGET, { id }, { timeoutMs })).forgotten;
}

/** Sets the wire faults a cell's transport injects (chaos): rates in [0, 1). */
export async function setPacketFaults(client: SwarmClient, addr: Addr, faults: PacketFaults, timeoutMs: number): Promise<void> {
  await client.endpoint.call(addr, Messages.FAULTS, faults, { timeoutMs });
}
