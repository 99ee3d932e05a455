import type { MembershipDetector } from '../core/index.js';
import { HeartbeatMembership, type HeartbeatComponents, type HeartbeatInit } from './heartbeat.js';
import type { Membership } from './member.js';
import { SwimMembership } from './swim/swim.js';

/** The membership a cell runs: SWIM gossip (the default) or the original full-mesh heartbeat (`--membership mesh`). */
export function createMembership(detector: MembershipDetector, components: HeartbeatComponents, init: HeartbeatInit): Membership {
  return detector === 'swim' ? new SwimMembership(components, init) : new HeartbeatMembership(components, init);
}
