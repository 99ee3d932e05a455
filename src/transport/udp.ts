import dgram from 'node:dgram';
import dns from 'node:dns';
import { isIPv4 } from 'node:net';
import { LRUCache } from 'lru-cache';
import { formatAddr, logger, parseAddr, type Addr } from '../core/index.js';
import type { DatagramHandler, SendOptions, Transport, UnreachableHandler } from './transport.js';

const log = logger('transport');

/**
 * Connected sockets kept for watched sends. A cell watches its probe
 * targets, a handful per protocol period; the oldest socket is closed first,
 * long after any answer to it has come back.
 */
const WATCH_SOCKETS_MAX = 64;
/** Datagrams held per watching socket while it connects (one event-loop turn). */
const WATCH_PENDING_MAX = 16;

export interface UdpInit {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** Kernel socket buffer sizes asked for (bytes). */
  socketBufferBytes: number;
}

/**
 * UDP over node:dgram. Sends are fire-and-forget; errors are counted, not
 * thrown. Linux reports ICMP port-unreachable only to a connected socket,
 * so watched sends go through one connected socket per peer (bounded), whose
 * answers are received like any other.
 */
export class UdpTransport implements Transport {
  private handler: DatagramHandler = () => {};
  private unreachableHandler: UnreachableHandler = () => {};
  private closed = false;
  sendErrors = 0;
  address: Addr = '';
  private readonly watching = new LRUCache<Addr, WatchSocket>({
    max: WATCH_SOCKETS_MAX,
    dispose: (w) => w.close(),
  });

  private constructor(private readonly socket: dgram.Socket, private readonly host: string) {}

  static async bind(init: UdpInit): Promise<UdpTransport> {
    // Numeric addresses are answered at once: that spares every send a trip through dns.lookup and nextTick.
    const socket = dgram.createSocket({
      type: 'udp4',
      lookup: (host, opts, cb) => (isIPv4(host) ? cb(null, host, 4) : dns.lookup(host, opts, cb)),
    });
    const t = new UdpTransport(socket, init.host);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(init.port, init.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    for (const set of [() => socket.setRecvBufferSize(init.socketBufferBytes), () => socket.setSendBufferSize(init.socketBufferBytes)]) {
      try {
        set();
      } catch (err) {
        log('socket buffer size not set: %s', (err as Error).message);
      }
    }
    const a = socket.address();
    t.address = formatAddr(init.host, a.port);
    socket.on('message', (msg, rinfo) => t.handler(msg, formatAddr(rinfo.address, rinfo.port)));
    socket.on('error', (err) => {
      t.sendErrors++;
      log('socket error: %s', err.message);
    });
    return t;
  }

  send(to: Addr, data: Buffer | Buffer[], opts?: SendOptions): void {
    if (this.closed) return;
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseAddr(to));
    } catch {
      this.sendErrors++;
      return;
    }
    if (opts?.watch) return this.watchSocket(to, host, port).send(data);
    // No callback: the send is tried at once and nothing is queued to report it; a failure comes as an 'error' event.
    this.socket.send(data, port, host);
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  onUnreachable(handler: UnreachableHandler): void {
    this.unreachableHandler = handler;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watching.clear();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private watchSocket(to: Addr, host: string, port: number): WatchSocket {
    let w = this.watching.get(to);
    if (!w) {
      w = new WatchSocket(this.host, host, port, {
        received: (msg) => this.handler(msg, to),
        refused: () => this.unreachableHandler(to),
        failed: (err) => {
          this.sendErrors++;
          log('watched socket to %s: %s', to, err.message);
        },
      });
      this.watching.set(to, w);
    }
    return w;
  }
}

/** A socket connected to one peer: the kernel tells it when nothing listens there. */
class WatchSocket {
  private readonly socket = dgram.createSocket('udp4');
  private pending: (Buffer | Buffer[])[] | null = [];
  private closed = false;

  constructor(
    localHost: string,
    host: string,
    port: number,
    events: { received: (msg: Buffer) => void; refused: () => void; failed: (err: Error) => void },
  ) {
    this.socket.on('message', (msg) => events.received(msg));
    this.socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? events.refused() : events.failed(err)));
    // Bound to the transport's own interface, so the peer's answer takes the same path back.
    this.socket.bind(0, localHost, () => {
      if (this.closed) return;
      this.socket.connect(port, host, () => {
        if (this.closed) return;
        for (const data of this.pending ?? []) this.socket.send(data);
        this.pending = null;
      });
    });
  }

  send(data: Buffer | Buffer[]): void {
    if (this.pending === null) this.socket.send(data);
    // Copied: the caller may reuse its buffers once send() returns.
    else if (this.pending.length < WATCH_PENDING_MAX) this.pending.push(Buffer.concat(Array.isArray(data) ? data : [data]));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.close();
    } catch {
      // not bound yet: nothing to close
    }
  }
}
