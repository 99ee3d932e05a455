export * from './member.js';
export { isAway } from './left-grace.js';
export { HeartbeatMembership } from './heartbeat.js';
export { SwimMembership, type SwimCounters } from './swim/swim.js';
export { createMembership } from './create.js';
export { MemberIds } from './member-ids.js';
