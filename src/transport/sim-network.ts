import { parseAddr, type Addr, type Clock, type Rng } from '../core/index.js';
import type { DatagramHandler, SendOptions, Transport, UnreachableHandler } from './transport.js';

/** Ports handed out for "host:0", as an operating system would pick a free one. */
const EPHEMERAL_PORT_FIRST = 40_000;

/**
 * An in-memory network for deterministic tests: SimTransports registered by
 * address, datagrams delivered after a seeded delay (so they may overtake
 * each other), with loss, duplication, partitions, isolated hosts and slow
 * cells. A closed transport is a process gone from a live host: a watched
 * send to its address is reported unreachable, as ICMP would. An isolated
 * host is a crashed or hung one: it answers nothing.
 */
export class SimNetwork {
  private readonly nodes = new Map<Addr, SimTransport>();
  private readonly cut = new Set<string>();
  private readonly isolated = new Set<Addr>();
  /** Slow cells: the most extra delay of every datagram to or from them (ms). */
  private readonly slowed = new Map<Addr, number>();
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

  /** Delays every datagram to or from addr by up to extraDelayMsMax more (an overloaded cell) until heal(addr) or heal(). */
  slow(addr: Addr, extraDelayMsMax: number): void {
    this.slowed.set(addr, extraDelayMsMax);
  }

  /** Restores every link (no address), or only addr's isolation and speed. */
  heal(addr?: Addr): void {
    if (addr !== undefined) {
      this.isolated.delete(addr);
      this.slowed.delete(addr);
      return;
    }
    this.cut.clear();
    this.isolated.clear();
    this.slowed.clear();
  }

  private isCut(from: Addr, to: Addr): boolean {
    return this.isolated.has(from) || this.isolated.has(to) || (this.cut.size > 0 && this.cut.has(`${from}|${to}`));
  }

  /** @internal data becomes the network's: the sender keeps no reference to it. */
  deliver(from: Addr, to: Addr, data: Buffer, watch: boolean): void {
    const { rng, clock } = this.components;
    if (this.isCut(from, to) || rng.next() < this.lossRate) return;
    // No draw without duplication or slow cells: a seed replays the same delays as before they existed.
    const copies = this.dupRate > 0 && rng.next() < this.dupRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      // Only a duplicate needs a copy of its own: 10,000 simulated cells copy every datagram once, not twice.
      const copy = i === 0 ? data : Buffer.from(data);
      const delay = this.delayMsMin + rng.next() * (this.delayMsMax - this.delayMsMin) + this.slowDelay(from, to);
      // Links are checked again on arrival: a partition or crash cuts datagrams still in flight too.
      clock.setTimeout(() => {
        if (this.isCut(from, to)) return;
        const node = this.nodes.get(to);
        if (node) node.receive(copy, from);
        // Nothing listens on a live host: the "ICMP" travels back as long as the datagram took.
        else if (watch) clock.setTimeout(() => this.isCut(to, from) || this.nodes.get(from)?.unreachable(to), delay);
      }, delay);
    }
  }

  private slowDelay(from: Addr, to: Addr): number {
    if (this.slowed.size === 0) return 0;
    const most = Math.max(this.slowed.get(from) ?? 0, this.slowed.get(to) ?? 0);
    return most > 0 ? this.components.rng.next() * most : 0;
  }

  /** @internal */
  remove(t: SimTransport): void {
    if (this.nodes.get(t.address) === t) this.nodes.delete(t.address);
  }
}

export class SimTransport implements Transport {
  private handler: DatagramHandler = () => {};
  private unreachableHandler: UnreachableHandler = () => {};
  private closed = false;
  sendErrors = 0;

  constructor(private readonly net: SimNetwork, readonly address: Addr) {}

  send(to: Addr, data: Buffer | Buffer[], opts?: SendOptions): void {
    if (this.closed) return;
    try {
      parseAddr(to);
    } catch {
      this.sendErrors++; // as UdpTransport: an address that does not parse is a send error, not an exception
      return;
    }
    this.net.deliver(this.address, to, Buffer.concat(Array.isArray(data) ? data : [data]), opts?.watch === true);
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  onUnreachable(handler: UnreachableHandler): void {
    this.unreachableHandler = handler;
  }

  /** @internal */
  unreachable(addr: Addr): void {
    if (!this.closed) this.unreachableHandler(addr);
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
