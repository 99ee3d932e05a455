export { connectSwarm, type ConnectInit } from './connect-swarm.js';
