import dgram from 'node:dgram';
import dns from 'node:dns';
import { isIPv4 } from 'node:net';
import { formatAddr, logger, parseAddr, type Addr } from '../core/index.js';
import type { DatagramHandler, Transport } from './transport.js';

const log = logger('transport');

export interface UdpInit {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** Kernel socket buffer sizes asked for (bytes). */
  socketBufferBytes: number;
}

/** UDP over node:dgram. Sends are fire-and-forget; errors are counted, not thrown. */
export class UdpTransport implements Transport {
  private handler: DatagramHandler = () => {};
  private closed = false;
  sendErrors = 0;
  address: Addr = '';

  private constructor(private readonly socket: dgram.Socket) {}

  static async bind(init: UdpInit): Promise<UdpTransport> {
    // Numeric addresses are answered at once: that spares every send a trip through dns.lookup and nextTick.
    const socket = dgram.createSocket({
      type: 'udp4',
      lookup: (host, opts, cb) => (isIPv4(host) ? cb(null, host, 4) : dns.lookup(host, opts, cb)),
    });
    const t = new UdpTransport(socket);
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

  send(to: Addr, data: Buffer | Buffer[]): void {
    if (this.closed) return;
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseAddr(to));
    } catch {
      this.sendErrors++;
      return;
    }
    // No callback: the send is tried at once and nothing is queued to report it; a failure comes as an 'error' event.
    this.socket.send(data, port, host);
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
