export type { Transport, DatagramHandler } from './transport.js';
export { UdpTransport, type UdpInit } from './udp.js';
export { FaultyTransport } from './faults.js';
export { SimNetwork, SimTransport } from './sim-network.js';
