import dgram from 'node:dgram';
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
    const socket = dgram.createSocket({ type: 'udp4' });
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
    socket.on('error', (err) => log('socket error: %s', err.message));
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
    this.socket.send(data, port, host, (err) => {
      if (err) {
        this.sendErrors++;
        log('send to %s failed: %s', to, err.message);
      }
    });
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
