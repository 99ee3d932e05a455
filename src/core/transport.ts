import type { Addr } from './ids.js';

/*
 * The transport's interface, types only: components that are handed a
 * transport (a client, an endpoint) name it from here, and only transport/
 * implements it (UDP, the simulated network).
 */

export type DatagramHandler = (data: Buffer, from: Addr) => void;

/** The only code that touches sockets: send a datagram, receive datagrams, close. */
export interface Transport {
  /** Where peers reach us ("host:port"), known once bound. */
  readonly address: Addr;
  /** Sends one datagram; given several buffers, they are gathered into one datagram without copying. */
  send(to: Addr, data: Buffer | Buffer[]): void;
  onDatagram(handler: DatagramHandler): void;
  close(): Promise<void>;
  /** Datagrams the transport could not send (socket errors). */
  readonly sendErrors: number;
}
