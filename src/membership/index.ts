export * from './member.js';
export { isAway } from './left-grace.js';
export { HeartbeatMembership, type HeartbeatComponents, type HeartbeatInit } from './heartbeat.js';
