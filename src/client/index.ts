export { SwarmClient, type SwarmClientInit } from './swarm-client.js';
