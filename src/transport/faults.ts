import type { Addr, Clock, FaultConfig, Rng, TimerHandle } from '../core/index.js';
import type { DatagramHandler, SendOptions, Transport, UnreachableHandler } from './transport.js';

/**
 * Fault injection in the wire layer (this kernel has no netem): wraps any
 * transport and drops, duplicates or holds back outgoing datagrams at the
 * configured rates. Used by tests and by `cellsync chaos`.
 */
export class FaultyTransport implements Transport {
  private readonly held = new Set<TimerHandle>();
  dropped = 0;
  duplicated = 0;
  reordered = 0;

  constructor(
    private readonly inner: Transport,
    private readonly components: { clock: Clock; rng: Rng },
    public faults: FaultConfig,
  ) {}

  get address(): Addr {
    return this.inner.address;
  }

  get sendErrors(): number {
    return this.inner.sendErrors;
  }

  send(to: Addr, data: Buffer | Buffer[], opts?: SendOptions): void {
    const { rng, clock } = this.components;
    const f = this.faults;
    if (rng.next() < f.lossRate) {
      this.dropped++;
      return;
    }
    const copies = rng.next() < f.dupRate ? 2 : 1;
    if (copies === 2) this.duplicated++;
    for (let i = 0; i < copies; i++) {
      if (rng.next() < f.reorderRate) {
        this.reordered++;
        // Copy: the caller may reuse its buffer once send() returns.
        const copy = Buffer.concat(Array.isArray(data) ? data : [data]);
        const h = clock.setTimeout(() => {
          this.held.delete(h);
          this.inner.send(to, copy, opts);
        }, 1 + rng.next() * f.delayMsMax);
        this.held.add(h);
      } else {
        this.inner.send(to, data, opts);
      }
    }
  }

  onDatagram(handler: DatagramHandler): void {
    this.inner.onDatagram(handler);
  }

  onUnreachable(handler: UnreachableHandler): void {
    this.inner.onUnreachable(handler);
  }

  async close(): Promise<void> {
    for (const h of this.held) h.clear();
    this.held.clear();
    await this.inner.close();
  }
}
