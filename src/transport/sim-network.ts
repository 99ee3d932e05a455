import { parseAddr, type Addr, type Clock, type Rng } from '../core/index.js';
import type { DatagramHandler, Transport } from './transport.js';

/** Ports handed out for "host:0", as an operating system would pick a free one. */
const EPHEMERAL_PORT_FIRST = 40_000;

/**
 * An in-memory network for deterministic tests: SimTransports registered by
 * address, datagrams delivered after a seeded delay (so they may overtake
 * each other), with loss, duplication, partitions and isolated hosts.
 */
export class SimNetwork {
  private readonly nodes = new Map<Addr, SimTransport>();
  private readonly cut = new Set<string>();
  private readonly isolated = new Set<Addr>();
  private nextPort = EPHEMERAL_PORT_FIRST;
  lossRate = 0;
  /** Probability that a datagram is delivered twice (each copy with its own delay). */
  dupRate = 0;
  delayMsMin = 0;
  delayMsMax = 1;

  constructor(private readonly components: { clock: Clock; rng: Rng }) {}

  /** A transport bound at addr; port 0 picks a free port. Throws if an open transport holds addr already. */
  transport(addr: Addr): SimTransport {
    const colon = addr.lastIndexOf(':');
    const bound = addr.slice(colon + 1) === '0' ? `${addr.slice(0, colon)}:${this.nextPort++}` : addr;
    parseAddr(bound); // throws for an address that is not host:port
    if (this.nodes.has(bound)) throw new Error(`${bound} is in use on the simulated network`);
    const t = new SimTransport(this, bound);
    this.nodes.set(bound, t);
    return t;
  }

  /** Cuts both directions between a and b until heal(). */
  partition(a: Addr, b: Addr): void {
    this.cut.add(`${a}|${b}`).add(`${b}|${a}`);
  }

  /** Cuts addr off from everyone (a crashed host: nothing it sends is heard, nothing reaches it) until heal(addr) or heal(). */
  isolate(addr: Addr): void {
    this.isolated.add(addr);
  }

  /** Restores every link (no address), or only addr's isolation. */
  heal(addr?: Addr): void {
    if (addr !== undefined) {
      this.isolated.delete(addr);
      return;
    }
    this.cut.clear();
    this.isolated.clear();
  }

  private isCut(from: Addr, to: Addr): boolean {
    return this.isolated.has(from) || this.isolated.has(to) || this.cut.has(`${from}|${to}`);
  }

  /** @internal */
  deliver(from: Addr, to: Addr, data: Buffer): void {
    const { rng, clock } = this.components;
    if (this.isCut(from, to) || rng.next() < this.lossRate) return;
    // No draw without duplication: a seed replays the same delays as before dupRate existed.
    const copies = this.dupRate > 0 && rng.next() < this.dupRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const copy = Buffer.from(data);
      const delay = this.delayMsMin + rng.next() * (this.delayMsMax - this.delayMsMin);
      // Links are checked again on arrival: a partition or crash cuts datagrams still in flight too.
      clock.setTimeout(() => {
        if (!this.isCut(from, to)) this.nodes.get(to)?.receive(copy, from);
      }, delay);
    }
  }

  /** @internal */
  remove(t: SimTransport): void {
    if (this.nodes.get(t.address) === t) this.nodes.delete(t.address);
  }
}

export class SimTransport implements Transport {
  private handler: DatagramHandler = () => {};
  private closed = false;
  sendErrors = 0;

  constructor(private readonly net: SimNetwork, readonly address: Addr) {}

  send(to: Addr, data: Buffer | Buffer[]): void {
    if (this.closed) return;
    try {
      parseAddr(to);
    } catch {
      this.sendErrors++; // as UdpTransport: an address that does not parse is a send error, not an exception
      return;
    }
    this.net.deliver(this.address, to, Buffer.concat(Array.isArray(data) ? data : [data]));
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  /** @internal */
  receive(data: Buffer, from: Addr): void {
    if (!this.closed) this.handler(data, from);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.net.remove(this);
  }
}
