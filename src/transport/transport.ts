// The interface is declared in core/ (types only), so that components handed a transport need not import transport/.
export type { Transport, DatagramHandler, SendOptions, UnreachableHandler } from '../core/transport.js';
