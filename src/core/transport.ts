import type { Addr } from './ids.js';

/*
 * The transport's interface, types only: components that are handed a
 * transport (a client, an endpoint) name it from here, and only transport/
 * implements it (UDP, the simulated network).
 */

export type DatagramHandler = (data: Buffer, from: Addr) => void;

/** Called with an address a watched send found no process listening at (on a host that answered). */
export type UnreachableHandler = (addr: Addr) => void;

export interface SendOptions {
  /**
   * Report through onUnreachable if nothing listens at `to`: over UDP the
   * host's ICMP port-unreachable, evidence that the process there is gone. A
   * crashed or cut-off host sends nothing, so silence proves nothing. A
   * watched datagram may arrive from another local port than `address`;
   * answers sent back to that port reach the sender all the same.
   */
  watch?: boolean;
}

/** The only code that touches sockets: send a datagram, receive datagrams, close. */
export interface Transport {
  /** Where peers reach us ("host:port"), known once bound. */
  readonly address: Addr;
  /** Sends one datagram; given several buffers, they are gathered into one datagram without copying. */
  send(to: Addr, data: Buffer | Buffer[], opts?: SendOptions): void;
  onDatagram(handler: DatagramHandler): void;
  /** Where watched sends report an address with nothing listening (one handler; a later call replaces it). */
  onUnreachable(handler: UnreachableHandler): void;
  close(): Promise<void>;
  /** Datagrams the transport could not send (socket errors). */
  readonly sendErrors: number;
}
