import type { Addr, Clock, Rng } from '../core/index.js';
import type { DatagramHandler, Transport } from './transport.js';

/**
 * An in-memory network for deterministic tests: SimTransports registered by
 * address, datagrams delivered after a seeded delay, with loss and
 * partitions. Reordering comes from the random delays.
 */
export class SimNetwork {
  private readonly nodes = new Map<Addr, SimTransport>();
  private readonly cut = new Set<string>();
  lossRate = 0;
  delayMsMin = 0;
  delayMsMax = 1;

  constructor(private readonly components: { clock: Clock; rng: Rng }) {}

  transport(addr: Addr): SimTransport {
    const t = new SimTransport(this, addr);
    this.nodes.set(addr, t);
    return t;
  }

  /** Cuts both directions between a and b until heal(). */
  partition(a: Addr, b: Addr): void {
    this.cut.add(`${a}|${b}`).add(`${b}|${a}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** @internal */
  deliver(from: Addr, to: Addr, data: Buffer): void {
    const { rng, clock } = this.components;
    if (this.cut.has(`${from}|${to}`) || rng.next() < this.lossRate) return;
    const copy = Buffer.from(data);
    const delay = this.delayMsMin + rng.next() * (this.delayMsMax - this.delayMsMin);
    clock.setTimeout(() => this.nodes.get(to)?.receive(copy, from), delay);
  }

  /** @internal */
  remove(addr: Addr): void {
    this.nodes.delete(addr);
  }
}

export class SimTransport implements Transport {
  private handler: DatagramHandler = () => {};
  private closed = false;
  readonly sendErrors = 0;

  constructor(private readonly net: SimNetwork, readonly address: Addr) {}

  send(to: Addr, data: Buffer | Buffer[]): void {
    if (!this.closed) this.net.deliver(this.address, to, Buffer.concat(Array.isArray(data) ? data : [data]));
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  /** @internal */
  receive(data: Buffer, from: Addr): void {
    if (!this.closed) this.handler(data, from);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.net.remove(this.address);
  }
}
