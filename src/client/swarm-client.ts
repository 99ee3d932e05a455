import { CellError, defaultConfig, newCellId, systemClock, systemRng, type Addr, type WireConfig } from '../core/index.js';
import { Endpoint } from '../rpc/index.js';
import { UdpTransport } from '../transport/index.js';
import { KeyRing, MessageType } from '../wire/index.js';

export interface SwarmClientInit {
  swarmKey: Buffer;
  /** Local address to bind; the client is an ephemeral member with a random id. */
  host?: string;
  wire?: WireConfig;
}

/** How the CLI and tools reach the swarm: a short-lived endpoint with its own id. */
export class SwarmClient {
  private constructor(readonly endpoint: Endpoint) {}

  static async open(init: SwarmClientInit): Promise<SwarmClient> {
    const wire = init.wire ?? defaultConfig().wire;
    const transport = await UdpTransport.bind({ host: init.host ?? '127.0.0.1', port: 0, socketBufferBytes: wire.socketBufferBytes });
    const endpoint = new Endpoint(
      { clock: systemClock, rng: systemRng, transport },
      { id: newCellId(), keys: new KeyRing([init.swarmKey]), wire },
    );
    return new SwarmClient(endpoint);
  }

  /**
   * Asks the given cells for status at once; the first to answer wins. The
   * answer's shape (CellStatus) belongs to cell/, which the caller knows.
   */
  async status(addrs: Addr[], timeoutMs = 1_500): Promise<unknown> {
    if (addrs.length === 0) throw new CellError('NO_CELL_REACHABLE', 'no cells are known in this home');
    try {
      return await Promise.any(
        addrs.map(async (a) => JSON.parse((await this.endpoint.request(a, MessageType.STATUS, Buffer.alloc(0), { timeoutMs })).toString())),
      );
    } catch {
      throw new CellError('NO_CELL_REACHABLE', `no cell answered (tried ${addrs.join(', ')})`);
    }
  }

  async close(): Promise<void> {
    await this.endpoint.stop();
  }
}
