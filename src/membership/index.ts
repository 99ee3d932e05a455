export * from './member.js';
export { HeartbeatMembership, type HeartbeatComponents, type HeartbeatInit } from './heartbeat.js';
export { SwimMembership, type SwimComponents, type SwimCounters, type SwimInit } from './swim/swim.js';
export { createMembership } from './create.js';
