export type { Transport, DatagramHandler, SendOptions, UnreachableHandler } from './transport.js';
export { UdpTransport, type UdpInit } from './udp.js';
export { FaultyTransport } from './faults.js';
export { SimNetwork, SimTransport } from './sim-network.js';
