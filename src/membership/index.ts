export * from './member.js';
export { HeartbeatMembership, type HeartbeatComponents, type HeartbeatInit } from './heartbeat.js';
